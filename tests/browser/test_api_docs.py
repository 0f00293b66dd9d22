"""The admin API documentation renders in a real browser with no network beyond Ostiary."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.browser import chromium_page
from tests.support.server import run_cli, served

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_offline(tmp_path: Path):
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    with served(env, tmp_path, tmp_path / "serve.log") as (base, _proc), chromium_page() as page:
        outside: list[str] = []
        page.on(
            "request",
            lambda req: outside.append(req.url) if not req.url.startswith(base) else None,
        )
        page.goto(f"{base}/api/docs")
        title = page.wait_for_selector(".info .title", timeout=15_000)
        assert title is not None and "Ostiary admin API" in title.inner_text()
        assert page.get_by_text("/api/v1/info").count() >= 1
        assert outside == []
