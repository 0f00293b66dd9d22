"""The pages' Content-Security-Policy and the relying party's origin (CSP Level 3 section
6.3.1.1, form-action; browsers apply it to the redirects after a form submission, so the
sign-in, code and consent forms must allow the redirect URI their flow returns to; the
browser test tests/browser/test_sso_totp_browser.py is the end-to-end proof)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from starlette.testclient import TestClient

from ostiary.web.oauth.csp import form_headers, origin, redirect_uri_of
from tests.support.deploy import Deployment
from tests.support.rp import REDIRECT, authorize_params, pkce_pair, register, scim_user, sign_in


def _form_action(headers: dict[str, str] | object) -> str:
    policy = headers["content-security-policy"]  # type: ignore[index]
    return next(d.strip() for d in policy.split(";") if d.strip().startswith("form-action"))


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("https://rp.example.com/cb?x=1", "https://rp.example.com"),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080"),
        ("http://[::1]:9/cb", "http://[::1]:9"),
        ("com.example.app:/cb", None),  # native app schemes are not form targets
        ("https://evil.example; script-src *", None),
        ("https://a.example,https://b.example/", None),
        ("https://user@rp.example.com/cb", None),
        (None, None),
    ],
)
def test_origin_only_ever_names_one_plain_http_origin(uri: str | None, expected: str | None):
    assert origin(uri) == expected


def test_headers_add_only_the_redirect_origin():
    assert _form_action({k.lower(): v for k, v in form_headers(None).items()}) == (
        "form-action 'self'"
    )
    headers = {k.lower(): v for k, v in form_headers(REDIRECT).items()}
    assert _form_action(headers) == "form-action 'self' https://rp.example.com"
    assert "default-src 'none'" in headers["content-security-policy"]
    nxt = "/authorize?" + urlencode({"client_id": "rp1", "redirect_uri": REDIRECT})
    assert redirect_uri_of(nxt) == REDIRECT and redirect_uri_of("/account/totp") is None


def test_login_and_consent_pages_allow_the_clients_origin(
    client: TestClient, deployment: Deployment
):
    register(client.app, first_party=False)
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    start = client.get("/authorize", params=params, follow_redirects=False)
    login = client.get(start.headers["location"])
    assert _form_action(login.headers) == "form-action 'self' https://rp.example.com"
    back = sign_in(client, start.headers["location"])
    consent = client.get(back.headers["location"])
    assert "Allow" in consent.text
    assert _form_action(consent.headers) == "form-action 'self' https://rp.example.com"
    assert _form_action(client.get("/login").headers) == "form-action 'self'"


def test_rp_logout_confirmation_allows_the_post_logout_redirect_origin(
    client: TestClient, deployment: Deployment
):
    """RP-Initiated Logout 1.0 section 2 confirmation: its POST redirects to the registered
    post_logout_redirect_uri (section 3.1), so form-action must allow that origin; the plain
    /logout page stays 'self'."""
    from tests.support.logout import tokens_for

    after = "https://rp.example.com/signed-out"
    register(
        client.app,
        client_type="public",
        options={"post_logout_redirect_uris": [after]},
    )
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    tokens_for(client, "rp1")  # signed in
    page = client.get(
        "/end_session",
        params={"client_id": "rp1", "post_logout_redirect_uri": after},
        follow_redirects=False,
    )
    assert page.status_code == 200 and "Sign out?" in page.text
    assert _form_action(page.headers) == "form-action 'self' https://rp.example.com"
    assert _form_action(client.get("/logout").headers) == "form-action 'self'"
