"""Regenerate docs/login.png and docs/login-error.png: a served Ostiary, headless chromium.

Run from the repository root: .venv/bin/python scripts/login_screenshots.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, ".")
from tests.support.server import free_port, run_cli, served


def main() -> None:
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        port = free_port()
        env = {
            "OSTIARY_DATABASE_URL": f"sqlite:///{tmp}/o.db",
            "OSTIARY_MASTER_KEY_FILE": f"{tmp}/m.key",
            "OSTIARY_CONFIG": f"{tmp}/none.toml",
            "OSTIARY_ISSUER": f"http://127.0.0.1:{port}",
        }
        run_cli("init", env=env, cwd=tmp)
        with served(env, tmp, tmp / "log", port=port) as (base, _), sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True)
            page = browser.new_page(viewport={"width": 800, "height": 560})
            page.goto(f"{base}/login")
            page.screenshot(path="docs/login.png")
            page.fill("#username", "ada@example.com")
            page.fill("#password", "wrong")
            page.click("button[type=submit]")
            page.wait_for_selector("#error")
            page.screenshot(path="docs/login-error.png")
            browser.close()


if __name__ == "__main__":
    main()
