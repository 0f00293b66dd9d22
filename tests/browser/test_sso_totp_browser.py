"""Single sign-on in a real browser (issue 6 point 10): Playwright drives Debian's headless
chromium through a served Ostiary's real pages on behalf of a test relying party
(tests/support/rp_server.py). The RP starts the code flow with PKCE S256 (RFC 7636), the
user signs in with a password and a TOTP code (RFC 6238, computed here from the key the
admin CLI printed), consents (OIDC Core 3.1.2.4), and lands back at the RP, which verifies
the ID token through /jwks (OIDC Core 3.1.3.7) and sees amr ["pwd", "otp"]; then the user
signs out through the RP (RP-Initiated Logout 1.0: end_session_endpoint with id_token_hint,
post_logout_redirect_uri and state), and prompt=none answers login_required (OIDC Core
3.1.2.6).

A second user enrols TOTP in the browser at /account/totp. Screenshots of the sign-in,
code and consent pages are saved; with OSTIARY_SCREENSHOTS=docs they refresh docs/*.png.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from ostiary.directory import totp
from ostiary.oidc.acr import MFA
from tests.support.browser import chromium_page
from tests.support.rp import PASSWORD, USER
from tests.support.rp_server import relying_party
from tests.support.server import free_port, run_cli, served


def _shots_dir(tmp_path: Path) -> Path:
    target = Path(os.environ.get("OSTIARY_SCREENSHOTS", tmp_path / "shots"))
    target.mkdir(parents=True, exist_ok=True)
    return target


def _deploy(tmp_path: Path, port: int, rp_port: int) -> tuple[dict[str, str], dict[str, Any]]:
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
    client = run_cli(
        *("clients", "create", "--name", "Team Wiki", "--json"),
        *("--redirect-uri", f"http://127.0.0.1:{rp_port}/cb"),
        *("--post-logout-redirect-uri", f"http://127.0.0.1:{rp_port}/bye"),
        *("--scope", "openid", "--scope", "profile"),
        env=env,
        cwd=tmp_path,
    )
    assert client.returncode == 0, client.stderr
    return env, {"key": json.loads(made.stdout)["key"], **json.loads(client.stdout)}


def _scim_user(base: str, key: str, name: str) -> str:
    created = httpx.post(
        f"{base}/scim/v2/Users",
        json={"schemas": [USER], "userName": name, "password": PASSWORD},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.mark.browser
def test_sign_in_with_password_and_totp_at_a_relying_party(tmp_path: Path):
    port, rp_port = free_port(), free_port()
    env, made = _deploy(tmp_path, port, rp_port)
    shots = _shots_dir(tmp_path)
    with served(env, tmp_path, tmp_path / "serve.log", port=port) as (base, _proc):
        ada = _scim_user(base, made["key"], "ada@example.com")
        enroll = ("users", "totp", "enroll", "ada@example.com", "--json")
        enrolled = run_cli(*enroll, env=env, cwd=tmp_path)
        assert enrolled.returncode == 0, enrolled.stderr
        secret = totp.from_base32(json.loads(enrolled.stdout)["secret"])
        with (
            relying_party(base, made["client_id"], made["client_secret"], rp_port) as rp,
            chromium_page() as page,
        ):
            page.set_viewport_size({"width": 800, "height": 600})
            page.goto(f"{rp.base}/start")
            page.wait_for_url(f"{base}/login?*")
            page.screenshot(path=str(shots / "login.png"))
            page.get_by_label("Username").fill("ada@example.com")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/login/totp")
            # Half signed in: no session cookie yet, only the pending one.
            names = {c["name"] for c in page.context.cookies()}
            assert "ostiary_mfa" in names and "ostiary_session" not in names
            code_box = page.get_by_label("Verification code")
            assert code_box.get_attribute("autocomplete") == "one-time-code"
            page.screenshot(path=str(shots / "totp.png"))
            code_box.fill(totp.totp(secret, time.time()))
            page.get_by_role("button", name="Verify").click()
            page.get_by_role("button", name="Allow").wait_for()
            assert "Team Wiki" in page.content()
            page.screenshot(path=str(shots / "consent.png"))
            page.get_by_role("button", name="Allow").click()
            page.wait_for_url(f"{rp.base}/cb?*")
            assert rp.errors == []
            assert page.locator("#who").inner_text() == f"Signed in as {ada}"
            assert rp.claims["sub"] == ada and rp.claims["amr"] == ["pwd", "otp"]
            assert rp.claims["acr"] == MFA
            session = {c["name"]: c for c in page.context.cookies()}["ostiary_session"]
            assert session["httpOnly"] and session["sameSite"] == "Lax"

            page.get_by_role("link", name="Sign out").click()
            _sign_out(page, rp)
            assert "ostiary_session" not in {c["name"] for c in page.context.cookies()}
            page.goto(rp.start_url().replace("scope=", "prompt=none&scope="))
            page.wait_for_url(f"{rp.base}/cb?*")
            assert any("login_required" in e for e in rp.errors)

        _browser_enrolment(base, made["key"], shots)


def _sign_out(page: Any, rp: Any) -> None:
    """RP-Initiated Logout 1.0: the RP sent the browser to end_session_endpoint with its
    id_token_hint (section 2), so the session ends without a question and the browser
    lands on the registered post_logout_redirect_uri with the RP's state (section 3)."""
    page.wait_for_url(f"{rp.post_logout_redirect_uri}?*")
    assert rp.logout_via == "end_session_endpoint"
    assert "Signed out of the test RP" in page.content()
    assert rp.errors == []  # /bye checked the state


def _browser_enrolment(base: str, key: str, shots: Path) -> None:
    """Self-service enrolment at /account/totp: read the key off the page, confirm it with
    a code, and the page says the factor is on."""
    _scim_user(base, key, "grace@example.com")
    with chromium_page() as page:
        page.set_viewport_size({"width": 800, "height": 1000})
        page.goto(f"{base}/account/totp")
        page.wait_for_url(f"{base}/login?*")
        page.get_by_label("Username").fill("grace@example.com")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{base}/account/totp")
        shown = page.locator("#secret").inner_text()
        page.screenshot(path=str(shots / "totp-enroll.png"))
        secret = totp.from_base32(shown)
        page.get_by_label("Verification code").fill(totp.totp(secret, time.time()))
        page.get_by_role("button", name="Turn on").click()
        page.get_by_role("status").wait_for()
        assert "Two-step verification is on" in page.get_by_role("status").inner_text()
