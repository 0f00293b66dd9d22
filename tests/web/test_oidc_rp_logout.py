"""OpenID Connect RP-Initiated Logout 1.0 (issue 6 point 8): the end_session_endpoint
(section 2) with id_token_hint verified against Ostiary's keys, post_logout_redirect_uri
honoured only when registered (section 3.1), state echoed (section 3), a CSRF-protected
confirmation page otherwise; afterwards prompt=none gets login_required (OIDC Core
3.1.2.6), and the session's clients get back-channel logout tokens."""

from __future__ import annotations

import re

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.testclient import TestClient

from ostiary.web.context import AppContext
from tests.support.deploy import Deployment
from tests.support.logout import csrf_of, logout_token_of, tokens_for, verify_logout_token
from tests.support.receiver import receiver
from tests.support.rp import REDIRECT, query_of, register, scim_user, verify_id_token

AFTER = "https://rp.example.com/signed-out"


def _setup(client: TestClient, deployment: Deployment, **options: object) -> str:
    register(
        client.app,
        client_type="public",
        client_id="rp1",
        options={"post_logout_redirect_uris": [AFTER], **options},
    )
    register(client.app, client_type="public", client_id="rp2")
    return scim_user(client, deployment.make_key(["users:read", "users:write"]).token)


def _signed_in(client: TestClient) -> bool:
    """prompt=none succeeds only with a live session (OIDC Core 3.1.2.6)."""
    resp = client.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": "rp1",
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "prompt": "none",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        },
        follow_redirects=False,
    )
    q = query_of(resp.headers["location"])
    assert "code" in q or q["error"] == "login_required", q
    return "code" in q


def test_valid_hint_and_registered_uri_log_out_and_redirect_with_state(
    client: TestClient, deployment: Deployment
):
    """Sections 2, 3: a valid id_token_hint ends the session at once; the registered
    post_logout_redirect_uri gets ``state``; the next prompt=none is login_required; the
    session's client with a backchannel_logout_uri gets a logout token."""
    with receiver() as rx:
        user_id = _setup(client, deployment, backchannel_logout_uri=rx.url)
        id_token = tokens_for(client, "rp1")["id_token"]
        sid = verify_id_token(client, id_token, audience="rp1")["sid"]
        assert _signed_in(client)
        resp = client.get(
            "/end_session",
            params={"id_token_hint": id_token, "post_logout_redirect_uri": AFTER, "state": "x y"},
            follow_redirects=False,
        )
        assert resp.status_code == 303
        assert resp.headers["location"] == AFTER + "?state=x+y"
        assert "ostiary_session=" in resp.headers["set-cookie"]  # the cookie is cleared
        assert not _signed_in(client)
        ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
        assert ctx.outbox_worker().run_once() == 1
        [got] = rx.wait_for(1)
    claims = verify_logout_token(client, logout_token_of(got), audience="rp1")
    assert claims["sub"] == user_id and claims["sid"] == sid


def test_post_with_an_expired_hint_is_accepted(client: TestClient, deployment: Deployment, clock):
    """Section 2: the endpoint takes POST too, and an expired ID token is still a hint."""
    _setup(client, deployment)
    id_token = tokens_for(client, "rp1")["id_token"]
    clock.advance(3600)  # the ID token (10 minutes) has expired; the session (hours) has not
    assert _signed_in(client)
    resp = client.post(
        "/end_session",
        data={"id_token_hint": id_token, "post_logout_redirect_uri": AFTER},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"] == AFTER
    assert not _signed_in(client)


def test_unregistered_redirect_uri_gets_an_error_page_never_a_redirect(
    client: TestClient, deployment: Deployment
):
    """Section 3.1: only a registered post_logout_redirect_uri (exact match) is used."""
    _setup(client, deployment)
    id_token = tokens_for(client, "rp1")["id_token"]
    for params in (
        {"id_token_hint": id_token, "post_logout_redirect_uri": "https://evil.example/"},
        {"id_token_hint": id_token, "post_logout_redirect_uri": AFTER + "/"},  # not exact
        {"client_id": "rp2", "post_logout_redirect_uri": AFTER},  # another client's URI
        {"post_logout_redirect_uri": AFTER},  # no client to check it against
        {"client_id": "rp2", "id_token_hint": id_token},  # contradicts the hint's aud
        {"client_id": "nobody"},
    ):
        resp = client.get("/end_session", params=params, follow_redirects=False)
        assert resp.status_code == 400, params
        assert "location" not in resp.headers
        assert "This sign-out request cannot be completed" in resp.text
    assert _signed_in(client)  # nothing was ended


@pytest.mark.parametrize("hint", ["none", "forged", "garbage"])
def test_without_a_valid_hint_the_user_confirms(
    client: TestClient, deployment: Deployment, hint: str
):
    """Section 2: without a valid id_token_hint the OP asks; the page is accessible, has
    no external assets, and its POST is CSRF-protected."""
    _setup(client, deployment)
    real = tokens_for(client, "rp1")["id_token"]
    params = {"client_id": "rp1", "post_logout_redirect_uri": AFTER, "state": "s1"}
    if hint == "forged":  # well-formed, our kid, but signed by someone else's key
        claims = verify_id_token(client, real, audience="rp1")
        header = {"alg": "RS256", "kid": jwt.decode(real, _any_key(client)).header["kid"]}
        params["id_token_hint"] = jwt.encode(header, claims, RSAKey.generate_key(2048))
    elif hint == "garbage":
        params["id_token_hint"] = "not.a.jwt"
    page = client.get("/end_session", params=params, follow_redirects=False)
    assert page.status_code == 200 and "Sign out?" in page.text
    assert "rp1</strong> asks to sign you out" in page.text
    assert 'action="/end_session"' in page.text and 'lang="en"' in page.text
    assert not re.search(r'(src|href)="https?:', page.text)
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert _signed_in(client)
    form = {"client_id": "rp1", "post_logout_redirect_uri": AFTER, "state": "s1"}
    forged = client.post("/end_session", data=form | {"csrf_token": "forged"})
    assert forged.status_code == 403 and _signed_in(client)  # asked again, new token
    done = client.post(
        "/end_session", data=form | {"csrf_token": csrf_of(forged.text)}, follow_redirects=False
    )
    assert done.status_code == 303 and done.headers["location"] == AFTER + "?state=s1"
    assert not _signed_in(client)


def test_a_hint_for_another_user_asks_first(client: TestClient, deployment: Deployment):
    """A valid ID token of a different user does not end this browser's session unasked."""
    _setup(client, deployment)
    other = TestClient(client.app, base_url="http://testserver")
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token, "bob@example.com")
    bobs = tokens_for(other, "rp1", username="bob@example.com")["id_token"]
    tokens_for(client, "rp1")
    page = client.get("/end_session", params={"id_token_hint": bobs}, follow_redirects=False)
    assert page.status_code == 200 and "Sign out?" in page.text
    assert _signed_in(client)


def test_without_a_session_it_just_signs_out(client: TestClient, deployment: Deployment):
    """Nothing to end: the registered redirect is followed, no page is needed."""
    _setup(client, deployment)
    resp = client.get(
        "/end_session",
        params={"client_id": "rp1", "post_logout_redirect_uri": AFTER},
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"] == AFTER
    bare = client.get("/end_session", follow_redirects=False)
    assert bare.status_code == 200 and "You are signed out" in bare.text


def test_discovery_advertises_the_end_session_endpoint(client: TestClient):
    """RP-Initiated Logout 1.0 section 2.1."""
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["end_session_endpoint"] == "http://testserver/end_session"


def _any_key(client: TestClient) -> object:
    from joserfc.jwk import KeySet

    return KeySet.import_key_set(client.get("/jwks").json())
