"""Basic OP certification profile (``oidcc-basic-certification-test-plan``): the code flow,
ID token, UserInfo and scope modules. One test per suite module, named after it."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from tests.conformance.oidc.harness import (
    OP,
    Browser,
    Client,
    RelyingParty,
    error_redirect,
    flow,
    module,
)

# the oidcc-codereuse-30seconds wait runs while these modules run (see conftest)
pytestmark = pytest.mark.usefixtures("reused_after_30s")

LOOPBACK = "http://127.0.0.1:9/cb"  # a registered redirect URI nothing listens on


@module("oidcc-server")
def test_oidcc_server(rp: RelyingParty, browser: Browser, user: tuple[str, str]):
    """OIDC Core 3.1.2-3.1.3: code flow with state and nonce; a signed ID token whose
    ``sub`` is the user's; UserInfo answers for the same ``sub`` (5.3.2)."""
    _, claims = flow(rp, browser)
    assert claims["sub"] == user[0] and "auth_time" in claims
    info = rp.userinfo()
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]


@module("oidcc-response-type-missing")
def test_oidcc_response_type_missing(rp: RelyingParty, browser: Browser):
    """RFC 6749 3.1.1: no response_type is an error (page, or a redirect with
    invalid_request / unsupported_response_type), never a code."""
    req = rp.begin()
    parts = urlsplit(req.url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "response_type"]
    url = parts._replace(query=urlencode(query)).geturl()
    got = error_redirect(browser.go(url, rp.client.redirect_uri), req, rp.meta["issuer"])
    assert got["error"] in {"invalid_request", "unsupported_response_type"}


def _dynamic_rp(op: OP, reg: Any) -> RelyingParty:
    assert reg.status_code == 201, reg.text
    doc = reg.json()
    return RelyingParty(op, Client(doc["client_id"], doc["client_secret"], doc["redirect_uris"][0]))


@module("oidcc-idtoken-signature")
def test_oidcc_idtoken_signature(basic_op: OP, browser: Browser):
    """OIDC Core 3.1.3.7 and 10.1: a client registered without an algorithm gets RS256
    ID tokens with a ``kid`` (dynamic client, as the module requires)."""
    reg = basic_op.register(client_name="sig", redirect_uris=[LOOPBACK], scope="openid")
    rp = _dynamic_rp(basic_op, reg)
    try:
        _, claims = flow(rp, browser)  # rp.id_token asserts alg RS256 and a published kid
        assert claims["aud"] == rp.client.client_id
    finally:
        rp.close()


@module("oidcc-idtoken-unsigned")
def test_oidcc_idtoken_unsigned(basic_op: OP, browser: Browser):
    """OIDC Core 3.1.3.7 / Discovery 3: ``none`` is not offered, so the suite skips the
    unsigned variant; asking for it at registration must never yield an unsigned token."""
    assert "none" not in basic_op.meta["id_token_signing_alg_values_supported"]
    reg = basic_op.register(
        client_name="unsigned", redirect_uris=[LOOPBACK], id_token_signed_response_alg="none"
    )
    if reg.status_code == 400:
        assert reg.json()["error"] == "invalid_client_metadata"
        return
    rp = _dynamic_rp(basic_op, reg)
    try:
        flow(rp, browser)  # verified RS256 through the JWKS, never alg none
    finally:
        rp.close()


@module("oidcc-userinfo-get")
def test_oidcc_userinfo_get(rp: RelyingParty, browser: Browser):
    """OIDC Core 5.3.1: GET with the bearer token; JSON whose ``sub`` matches (5.3.2)."""
    _, claims = flow(rp, browser)
    info = rp.userinfo(how="get")
    assert info.status_code == 200 and info.headers["content-type"].startswith("application/json")
    assert info.json()["sub"] == claims["sub"]


@module("oidcc-userinfo-post-header")
def test_oidcc_userinfo_post_header(rp: RelyingParty, browser: Browser):
    """OIDC Core 5.3.1, RFC 6750 2.1: POST with ``Authorization: Bearer``."""
    _, claims = flow(rp, browser)
    info = rp.userinfo(how="post")
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]


@module("oidcc-userinfo-post-body")
def test_oidcc_userinfo_post_body(rp: RelyingParty, browser: Browser):
    """OIDC Core 5.3.1, RFC 6750 2.2: POST with the token in the form body."""
    _, claims = flow(rp, browser)
    info = rp.userinfo(how="body")
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]


@module("oidcc-ensure-request-without-nonce-succeeds-for-code-flow")
def test_oidcc_ensure_request_without_nonce_succeeds_for_code_flow(
    rp: RelyingParty, browser: Browser
):
    """OIDC Core 3.1.2.1: nonce is optional in the code flow; the ID token then has none."""
    req = rp.begin(nonce=False)
    token = rp.finish(req, browser.go(req.url, rp.client.redirect_uri))
    assert "nonce" not in rp.id_token(token, nonce=None)


PROFILE_CLAIMS = {
    "name": "Ada Lovelace",
    "given_name": "Ada",
    "family_name": "Lovelace",
    "middle_name": "King",
    "nickname": "ada",
    "profile": "https://example.com/ada",
    "picture": "https://example.com/ada.png",
    "locale": "en-GB",
    "zoneinfo": "Europe/London",
}
EMAIL_CLAIMS = {"email": "ada@example.com", "email_verified": False}
PHONE_CLAIMS = {"phone_number": "+44 20 7946 0000", "phone_number_verified": False}
ADDRESS_CLAIMS = {
    "address": {
        "street_address": "12 St James's Square",
        "locality": "London",
        "postal_code": "SW1Y 4LB",
        "country": "GB",
    }
}


def _scope_module(rp_factory: Any, browser: Browser, scope: str, expected: dict) -> dict:
    """OIDC Core 5.4: each scope releases its claims at UserInfo, and only those."""
    rp = rp_factory(scope=scope)
    _, claims = flow(rp, browser)
    info = rp.userinfo().json()
    assert info["sub"] == claims["sub"]
    for name, value in expected.items():
        assert info.get(name) == value, name
    others = {**PROFILE_CLAIMS, **EMAIL_CLAIMS, **PHONE_CLAIMS, **ADDRESS_CLAIMS}
    leaked = set(info) & (set(others) - set(expected))
    assert not leaked, leaked
    return info


@module("oidcc-scope-profile")
def test_oidcc_scope_profile(rp_factory: Any, browser: Browser, user: tuple[str, str]):
    """OIDC Core 5.4: ``profile`` releases the profile claims (5.1), userName as
    preferred_username and updated_at as seconds."""
    info = _scope_module(rp_factory, browser, "openid profile", PROFILE_CLAIMS)
    assert info["preferred_username"] == user[1] and isinstance(info["updated_at"], int)


@module("oidcc-scope-email")
def test_oidcc_scope_email(rp_factory: Any, browser: Browser):
    """OIDC Core 5.4: ``email`` releases email, email_verified."""
    _scope_module(rp_factory, browser, "openid email", EMAIL_CLAIMS)


@module("oidcc-scope-address")
def test_oidcc_scope_address(rp_factory: Any, browser: Browser):
    """OIDC Core 5.4: ``address`` releases address."""
    _scope_module(rp_factory, browser, "openid address", ADDRESS_CLAIMS)


@module("oidcc-scope-phone")
def test_oidcc_scope_phone(rp_factory: Any, browser: Browser):
    """OIDC Core 5.4: ``phone`` releases phone_number, phone_number_verified."""
    _scope_module(rp_factory, browser, "openid phone", PHONE_CLAIMS)


@module("oidcc-scope-all")
def test_oidcc_scope_all(rp_factory: Any, browser: Browser):
    """OIDC Core 5.4: all four scopes at once release all their claims."""
    everything = {**PROFILE_CLAIMS, **EMAIL_CLAIMS, **PHONE_CLAIMS, **ADDRESS_CLAIMS}
    _scope_module(rp_factory, browser, "openid profile email address phone", everything)


@module("oidcc-ensure-other-scope-order-succeeds")
def test_oidcc_ensure_other_scope_order_succeeds(rp_factory: Any, browser: Browser):
    """RFC 6749 3.3: scope is a space-delimited set; order is not significant."""
    _scope_module(rp_factory, browser, "email openid", EMAIL_CLAIMS)


@module("oidcc-display-page")
def test_oidcc_display_page(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 ``display=page`` is accepted and the flow completes."""
    flow(rp, browser, display="page")
    assert browser.logins == 1


@module("oidcc-display-popup")
def test_oidcc_display_popup(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 ``display=popup`` is accepted and the flow completes."""
    flow(rp, browser, display="popup")
    assert browser.logins == 1
