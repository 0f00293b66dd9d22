"""A served Ostiary with administrators, and the accessibility check for console pages.

axe-core comes from npm (package.json, installed by ``make test`` into node_modules). It is
added as an init script: the browser runs it through the DevTools protocol, so the pages'
CSP (script-src 'self') stays on and is itself exercised by these tests.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ostiary.store.db import Database
from tests.support.admins import PASSWORD, add_user
from tests.support.server import free_port, run_cli, served
from tests.support.services import missing

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => {
  const r = await axe.run(document, {resultTypes: ['violations']});
  return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                 targets: v.nodes.map(n => n.target.join(' '))}));
}"""


def shots_dir(tmp: Path) -> Path:
    """Where screenshots go: a scratch folder, or docs/ with OSTIARY_SCREENSHOTS=docs (how
    docs/console-*.png are refreshed) so a test run leaves the work tree clean."""
    target = Path(os.environ.get("OSTIARY_SCREENSHOTS", tmp / "shots"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def require_axe() -> Path:
    if not AXE.exists():
        missing("axe-core", "run 'make test' (it runs npm ci into node_modules)")
    return AXE


@dataclass
class Site:
    base: str
    env: dict[str, str]
    cwd: Path
    db: Database
    csp_errors: list[str] = field(default_factory=list)

    def user(self, name: str, *roles: str) -> str:
        return add_user(self.db, name, roles, datetime.now(UTC))


@contextmanager
def console_site(tmp: Path) -> Iterator[Site]:
    port = free_port()
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp / "none.toml"),
        "OSTIARY_ISSUER": f"http://127.0.0.1:{port}",
    }
    assert run_cli("init", env=env, cwd=tmp).returncode == 0
    db = Database(env["OSTIARY_DATABASE_URL"], pool_size=1)
    try:
        with served(env, tmp, tmp / "serve.log", port=port) as (base, _proc):
            yield Site(base, env, tmp, db)
    finally:
        db.dispose()


def prepare(page: Any, site: Site) -> None:
    """axe in every document; CSP violations reported by the browser are collected."""
    page.context.add_init_script(path=str(require_axe()))

    def on_console(msg: Any) -> None:
        if "Content Security Policy" in msg.text:
            site.csp_errors.append(msg.text)

    page.on("console", on_console)


def sign_in(page: Any, site: Site, username: str, next_url: str = "/console") -> None:
    page.goto(f"{site.base}{next_url}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.base}{next_url}")


def assert_accessible(page: Any) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    violations = page.evaluate(RUN_AXE)
    bad = [v for v in violations if v["impact"] in {"serious", "critical"}]
    assert bad == [], bad


def tab_to(page: Any, name: str, limit: int = 40) -> None:
    """Press Tab until the focused element's accessible text is ``name``."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => (document.activeElement.innerText || document.activeElement.value || '').trim()"
        )
        if focused == name:
            return
    raise AssertionError(f"{name!r} is not reachable with the keyboard in {limit} tabs")
