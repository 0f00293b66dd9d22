"""The OpenID Connect authorization code flow (issue 6 points 3 and 5): /authorize
(RFC 6749 4.1.1, OIDC Core 3.1.2), the code exchange at /token (RFC 6749 4.1.3, OIDC Core
3.1.3), PKCE S256 (RFC 7636). ID tokens are verified against the published /jwks."""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.oidc.id_token import half_hash
from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.tables_audit import audit_events
from ostiary.store.tables_oidc_code import oidc_auth_codes
from tests.support.deploy import Deployment
from tests.support.rp import (
    REDIRECT,
    pkce_pair,
    query_of,
    register,
    scim_user,
    sign_in,
    verify_id_token,
)


def _user(client: TestClient, dep: Deployment) -> str:
    return scim_user(client, dep.make_key(["users:read", "users:write"]).token)


def _authorize(client: TestClient, challenge: str | None, **extra: str):
    params = {
        "response_type": "code",
        "client_id": "rp1",
        "redirect_uri": REDIRECT,
        "scope": "openid profile",
        "state": "st-1",
        "nonce": "n-1",
        **extra,
    }
    if challenge:
        params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    return client.get("/authorize", params=params, follow_redirects=False)


def _code(client: TestClient, challenge: str | None, **extra: str) -> str:
    """Authorize, signing in when sent to /login; returns the code from the redirect."""
    resp = _authorize(client, challenge, **extra)
    if resp.headers["location"].startswith("/login"):
        back = sign_in(client, resp.headers["location"])
        assert back.status_code == 303 and back.headers["location"].startswith("/authorize?")
        resp = client.get(back.headers["location"], follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith(REDIRECT + "?")
    q = query_of(resp.headers["location"])
    assert q["state"] == "st-1" and q["iss"] == "http://testserver"
    return q["code"]


def _exchange(client: TestClient, code: str, verifier: str | None, **extra: str):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "rp1",
        **extra,
    }
    if verifier:
        data["code_verifier"] = verifier
    return client.post("/token", data=data)


def test_public_client_code_flow_with_pkce(client: TestClient, deployment: Deployment):
    """OIDC Core 3.1.2-3.1.3.7, RFC 7636 4.6: sign in, code, tokens; ID token verifies
    through /jwks and carries iss, sub, aud, exp, iat, auth_time, nonce, sid, at_hash."""
    register(client.app, client_type="public")
    user_id = _user(client, deployment)
    verifier, challenge = pkce_pair()
    first = _authorize(client, challenge, login_hint="ada@example.com")
    assert first.status_code == 303 and first.headers["location"].startswith("/login?")
    assert 'value="ada@example.com"' in client.get(first.headers["location"]).text
    code = _code(client, challenge)
    resp = _exchange(client, code, verifier)
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 600
    claims = verify_id_token(client, body["id_token"], audience="rp1")
    assert claims["iss"] == "http://testserver" and claims["sub"] == user_id
    assert claims["nonce"] == "n-1" and claims["sid"]
    assert claims["at_hash"] == half_hash(body["access_token"])
    assert claims["exp"] - claims["iat"] == 600 and claims["auth_time"] <= claims["iat"]
    header = base64.urlsafe_b64decode(body["access_token"].split(".")[0] + "==")
    assert b"at+jwt" in header
    with deployment.db.read() as conn:
        actions = [r.action for r in conn.execute(select(audit_events.c.action))]
        stored = [r.code_hash for r in conn.execute(select(oidc_auth_codes.c.code_hash))]
    assert "oauth.code.issue" in actions and "oauth.token.issue" in actions
    assert code.encode() not in stored and len(stored[0]) == 32  # only the hash is kept


def test_confidential_client_authenticates_with_its_secret(
    client: TestClient, deployment: Deployment
):
    """RFC 6749 2.3.1 and 4.1.3: a confidential client must authenticate."""
    secret = register(client.app)
    assert secret
    _user(client, deployment)
    code = _code(client, None)
    refused = _exchange(client, code, None)  # no secret: not a public client
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    wrong = _exchange(client, code, None, client_secret="ost_cs_wrong")
    assert wrong.status_code == 401
    ok = client.post(
        "/token",
        auth=("rp1", secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
    )
    assert ok.status_code == 200, ok.text
    verify_id_token(client, ok.json()["id_token"], audience="rp1")


def test_unregistered_client_or_redirect_gets_a_page_not_a_redirect(client: TestClient):
    """RFC 6749 4.1.2.1: never redirect to an unverified redirect_uri."""
    register(client.app)
    for params in (
        {"client_id": "nobody", "redirect_uri": REDIRECT},
        {"client_id": "rp1", "redirect_uri": "https://evil.example/cb"},
        {"client_id": "rp1", "redirect_uri": REDIRECT + "/"},  # exact match only
        {"client_id": "rp1"},
    ):
        resp = client.get(
            "/authorize",
            params={"response_type": "code", "scope": "openid", **params},
            follow_redirects=False,
        )
        assert resp.status_code == 400 and "location" not in resp.headers
        assert resp.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"scope": "profile"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"code_challenge_method": "plain", "code_challenge": "x" * 43}, "invalid_request"),
        ({"prompt": "none login"}, "invalid_request"),
    ],
)
def test_errors_after_the_redirect_uri_is_known_go_back_to_it(client: TestClient, extra, error):
    """RFC 6749 4.1.2.1 / OIDC Core 3.1.2.6: error, state and iss on the redirect URI."""
    register(client.app, client_type="public")
    _, challenge = pkce_pair()
    resp = _authorize(client, None if "code_challenge" in extra else challenge, **extra)
    assert resp.status_code == 303
    q = query_of(resp.headers["location"])
    assert resp.headers["location"].startswith(REDIRECT) and q["error"] == error
    assert q["state"] == "st-1"


def test_public_client_must_use_pkce(client: TestClient):
    """RFC 7636 4.4.1 / RFC 9700 2.1.1: public clients need PKCE."""
    register(client.app, client_type="public")
    q = query_of(_authorize(client, None).headers["location"])
    assert q["error"] == "invalid_request"


def test_prompt_none_without_session_is_login_required(client: TestClient):
    """OIDC Core 3.1.2.6: prompt=none and nobody signed in -> login_required."""
    register(client.app, client_type="public")
    _, challenge = pkce_pair()
    q = query_of(_authorize(client, challenge, prompt="none").headers["location"])
    assert q["error"] == "login_required" and q["state"] == "st-1"


def test_prompt_login_and_max_age_force_reauthentication(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """OIDC Core 3.1.2.1 prompt=login, max_age; auth_time in the ID token."""
    register(client.app, client_type="public")
    _user(client, deployment)
    verifier, challenge = pkce_pair()
    _code(client, challenge)  # signed in now
    again = _authorize(client, challenge, prompt="none")
    assert "code" in query_of(again.headers["location"])  # session reused silently
    forced = _authorize(client, challenge, prompt="login")
    assert forced.headers["location"].startswith("/login?")
    clock.advance(timedelta(seconds=120))
    assert "code" in query_of(_authorize(client, challenge, max_age="300").headers["location"])
    stale = _authorize(client, challenge, max_age="60")
    assert stale.headers["location"].startswith("/login?")
    back = sign_in(client, stale.headers["location"])
    done = client.get(back.headers["location"], follow_redirects=False)
    code = query_of(done.headers["location"])["code"]
    body = _exchange(client, code, verifier).json()
    claims = verify_id_token(client, body["id_token"], audience="rp1")
    assert claims["auth_time"] == int(clock.now().timestamp())


def test_code_is_single_use_and_reuse_revokes_its_tokens(
    client: TestClient, deployment: Deployment
):
    """RFC 6749 4.1.2: a reused code fails and the tokens issued from it are revoked."""
    register(client.app, client_type="public")
    _user(client, deployment)
    verifier, challenge = pkce_pair()
    code = _code(client, challenge)
    first = _exchange(client, code, verifier)
    assert first.status_code == 200
    second = _exchange(client, code, verifier)
    assert second.status_code == 400 and second.json()["error"] == "invalid_grant"
    import json

    from joserfc.jws import extract_compact

    jti = json.loads(extract_compact(first.json()["access_token"].encode()).payload)["jti"]
    with deployment.db.read() as conn:
        assert RevocationRepository(conn).is_revoked(jti)
        reuse = conn.execute(
            select(audit_events.c.entry).where(audit_events.c.action == "oauth.code.reuse")
        ).all()
    assert [json.loads(r.entry)["outcome"] for r in reuse] == ["failure"]


def test_code_checks_redirect_uri_verifier_and_lifetime(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """RFC 6749 4.1.3 (redirect_uri), RFC 7636 4.6 (verifier), 60-second codes."""
    register(client.app, client_type="public")
    _user(client, deployment)
    verifier, challenge = pkce_pair()
    code = _code(client, challenge)
    assert _exchange(client, code, verifier, redirect_uri=REDIRECT + "x").json()["error"] == (
        "invalid_grant"
    )
    assert _exchange(client, code, pkce_pair()[0]).json()["error"] == "invalid_grant"
    assert _exchange(client, code, None).json()["error"] == "invalid_grant"
    assert _exchange(client, code, verifier).status_code == 200  # failures did not burn it
    late = _code(client, challenge)
    clock.advance(timedelta(seconds=61))
    assert _exchange(client, late, verifier).json()["error"] == "invalid_grant"
    assert _exchange(client, "no-such-code", verifier).json()["error"] == "invalid_grant"


def test_authorize_by_post_form(client: TestClient, deployment: Deployment):
    """OIDC Core 3.1.2.1: the authorization endpoint accepts POST (form-encoded) too."""
    register(client.app, client_type="public")
    _user(client, deployment)
    verifier, challenge = pkce_pair()
    _code(client, challenge)  # sign in
    form = {
        "response_type": "code",
        "client_id": "rp1",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "st-2",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    resp = client.post("/authorize", data=form, follow_redirects=False)
    assert resp.status_code == 303
    q = query_of(resp.headers["location"])
    assert q["state"] == "st-2"
    assert _exchange(client, q["code"], verifier).status_code == 200
    twice = client.post(
        "/authorize",
        content="client_id=rp1&client_id=rp2",
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert twice.status_code == 400 and "location" not in twice.headers


def test_prompt_none_after_logout_is_login_required(client: TestClient, deployment: Deployment):
    """Issue 6 point 8: after the session ends, prompt=none fails with login_required."""
    import re

    register(client.app, client_type="public")
    _user(client, deployment)
    _, challenge = pkce_pair()
    _code(client, challenge)
    page = client.get("/logout")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    client.post("/logout", data={"csrf_token": csrf.group(1)}, follow_redirects=False)
    q = query_of(_authorize(client, challenge, prompt="none").headers["location"])
    assert q["error"] == "login_required"
