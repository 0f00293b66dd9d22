"""Basic OP certification profile: the modules about the sign-in session and the optional
authorization request parameters (prompt, max_age, hints, locales, acr_values)."""

from __future__ import annotations

import html
import secrets
import time

import pytest

from tests.conformance.oidc.harness import OP, Browser, RelyingParty, error_redirect, flow, module

# the oidcc-codereuse-30seconds wait runs while these modules run (see conftest)
pytestmark = pytest.mark.usefixtures("reused_after_30s")

# CheckErrorFromAuthorizationEndpointIsOneThatRequiredAUserInterface (OIDC Core 3.1.2.6)
NEEDS_UI = {
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
}


def _next_second(after: int) -> None:
    """auth_time has one-second resolution: a second sign-in must land in a later second
    for the claims to differ, as a human's would."""
    while time.time() < after + 1:
        time.sleep(0.05)


def _same_session(first: dict, second: dict) -> None:
    """AbstractOIDCCSameAuthTwiceServerTest: no new sign-in, so the same sub and auth_time."""
    assert second["sub"] == first["sub"]
    assert second["auth_time"] == first["auth_time"]


@module("oidcc-prompt-login")
def test_oidcc_prompt_login(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 prompt=login: the OP asks again although a session exists, and
    the new ID token carries the new auth_time."""
    _, first = flow(rp, browser)
    _next_second(first["auth_time"])
    _, second = flow(rp, browser, prompt="login")
    assert browser.logins == 2
    assert second["sub"] == first["sub"] and second["auth_time"] > first["auth_time"]


@module("oidcc-prompt-none-not-logged-in")
def test_oidcc_prompt_none_not_logged_in(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 / 3.1.2.6: prompt=none without a session is an error that needs
    a user interface, returned to the client with the (long) state unchanged."""
    req = rp.begin(prompt="none", state=secrets.token_urlsafe(96)[:128])
    got = error_redirect(browser.go(req.url, rp.client.redirect_uri), req, rp.meta["issuer"])
    assert got["error"] in NEEDS_UI and len(got["state"]) == 128
    assert browser.logins == 0


@module("oidcc-prompt-none-logged-in")
def test_oidcc_prompt_none_logged_in(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1: with a session, prompt=none answers at once, without a page."""
    _, first = flow(rp, browser)
    _, second = flow(rp, browser, prompt="none")
    assert browser.logins == 1 and browser.consents == 1
    _same_session(first, second)


@module("oidcc-max-age-1")
def test_oidcc_max_age_1(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 max_age: a session older than max_age=1 must sign in again, and
    auth_time is then present (OIDC Core 2), later, and recent."""
    _, first = flow(rp, browser)
    time.sleep(2)  # the module waits 2 seconds so that max_age=1 has surely passed
    _, second = flow(rp, browser, max_age=1)
    assert browser.logins == 2
    assert second["auth_time"] > first["auth_time"]
    assert abs(time.time() - second["auth_time"]) < 60


@module("oidcc-max-age-10000")
def test_oidcc_max_age_10000(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 max_age: a session younger than max_age needs no sign-in, and
    auth_time (required when max_age was sent) is the first sign-in's."""
    _, first = flow(rp, browser)
    _, second = flow(rp, browser, max_age=10000)
    assert browser.logins == 1
    _same_session(first, second)


@module("oidcc-ensure-request-with-unknown-parameter-succeeds")
def test_oidcc_ensure_request_with_unknown_parameter_succeeds(rp: RelyingParty, browser: Browser):
    """RFC 6749 3.1: unrecognised request parameters (extra=foobar) are ignored."""
    flow(rp, browser, extra="foobar")


@module("oidcc-id-token-hint")
def test_oidcc_id_token_hint(basic_op: OP, rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 id_token_hint: prompt=none with the ID token from the first
    sign-in succeeds without interaction, for the same user and session. Beyond the
    module: the same hint in a browser signed in as someone else is login_required (the
    hinted user is not the one logged in), never a code for the other user."""
    token, first = flow(rp, browser)
    _, second = flow(rp, browser, prompt="none", id_token_hint=token["id_token"])
    assert browser.logins == 1
    _same_session(first, second)

    _, other_name = basic_op.user()
    other = Browser(basic_op, other_name)
    try:
        flow(rp, other)  # the other user signs in to the same client
        req = rp.begin(prompt="none", id_token_hint=token["id_token"])
        got = error_redirect(other.go(req.url, rp.client.redirect_uri), req, rp.meta["issuer"])
        assert got["error"] == "login_required"
    finally:
        other.close()


@module("oidcc-login-hint")
def test_oidcc_login_hint(rp: RelyingParty, browser: Browser, user: tuple[str, str]):
    """OIDC Core 3.1.2.1 login_hint: the sign-in page offers the hinted identifier."""
    flow(rp, browser, login_hint=user[1])
    assert browser.logins == 1
    assert f'value="{html.escape(user[1])}"' in browser.login_pages[0]


@module("oidcc-ui-locales")
def test_oidcc_ui_locales(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 ui_locales: the request must not fail, and the sign-in page uses
    one of the requested locales the OP has (the suite's 'se', then 'en' as a
    configured fallback; discovery's ui_locales_supported says which exist)."""
    supported = rp.meta["ui_locales_supported"]
    flow(rp, browser, ui_locales="se en")
    assert "en" in supported and '<html lang="en">' in browser.login_pages[0]


@module("oidcc-claims-locales")
def test_oidcc_claims_locales(rp: RelyingParty, browser: Browser):
    """OIDC Core 5.2 claims_locales: the request succeeds and UserInfo still answers
    (in a locale discovery's claims_locales_supported lists)."""
    assert rp.meta["claims_locales_supported"]
    _, claims = flow(rp, browser, claims_locales="se")
    assert rp.userinfo().json()["sub"] == claims["sub"]


@module("oidcc-ensure-request-with-acr-values-succeeds")
def test_oidcc_ensure_request_with_acr_values_succeeds(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 / 15.1 acr_values (from acr_values_supported, as the module
    sends): the request succeeds and the ID token's acr is one of the values asked for
    (ValidateIdTokenACRClaimAgainstAcrValuesRequest, a suite warning, required here)."""
    values = rp.meta["acr_values_supported"]
    _, claims = flow(rp, browser, acr_values=" ".join(values))
    assert claims["acr"] in values
