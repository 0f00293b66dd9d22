"""A real browser (Debian's chromium, headless, via Playwright) signs in through the real
pages of a served Ostiary and signs out again (issue 6 points 4, 8 and 10, first part)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.server import free_port, run_cli, served
from tests.support.services import require_chromium

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PASSWORD = "correct horse battery staple"


@pytest.mark.browser
def test_sign_in_and_out_in_chromium(tmp_path: Path):
    chromium = require_chromium()
    import httpx
    from playwright.sync_api import sync_playwright

    port = free_port()
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
        "OSTIARY_ISSUER": f"http://127.0.0.1:{port}",
    }
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    made = run_cli(
        "keys", "create", "--name", "hr", "--scope", "users:write", "--json", env=env, cwd=tmp_path
    )
    key = json.loads(made.stdout)["key"]
    with served(env, tmp_path, tmp_path / "serve.log", port=port) as (base, _proc):
        created = httpx.post(
            f"{base}/scim/v2/Users",
            json={"schemas": [USER], "userName": "ada@example.com", "password": PASSWORD},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert created.status_code == 201, created.text
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, headless=True)
            page = browser.new_page()
            page.goto(f"{base}/login?next=/healthz")
            page.get_by_label("Username").fill("ada@example.com")
            page.get_by_label("Password").fill("not the password")
            page.get_by_role("button", name="Sign in").click()
            assert "incorrect" in page.get_by_role("alert").inner_text()
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/healthz")
            cookies = {c["name"]: c for c in page.context.cookies()}
            session = cookies["ostiary_session"]
            assert session["httpOnly"] and session["sameSite"] == "Lax"
            page.goto(f"{base}/logout")
            page.get_by_role("button", name="Sign out").click()
            assert "You are signed out" in page.content()
            assert "ostiary_session" not in {c["name"] for c in page.context.cookies()}
            browser.close()
