"""Revocation (RFC 7009) and introspection (RFC 7662) of relying parties' tokens
(issue 6 point 7): access tokens and refresh tokens; revoking a refresh token ends its
grant (RFC 7009 2.1); introspection says ``active: false`` for revoked, expired, unknown
and foreign tokens and for any token of a deactivated or deleted user (RFC 7662 2.2)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.tables import users
from tests.support.deploy import Deployment
from tests.support.rp import REDIRECT, code_for, exchange, register, scim_user

SCOPE = "openid profile offline_access"


def _setup(client: TestClient, dep: Deployment) -> tuple[str, str, str, str]:
    """rp1 and rp2 (client_secret_basic); returns (rp1 secret, rp2 secret, user, key)."""
    s1 = register(client.app)
    s2 = register(client.app, client_id="rp2")
    assert s1 and s2
    key = dep.make_key(["users:read", "users:write", "users:deprovision"]).token
    return s1, s2, scim_user(client, key), key


def _tokens(client: TestClient, secret: str) -> dict:
    code, verifier = code_for(client, scope=SCOPE)
    resp = exchange(client, code, verifier, ("rp1", secret))
    assert resp.status_code == 200, resp.text
    body: dict = resp.json()
    assert "refresh_token" in body
    return body


def _introspect(client: TestClient, token: str, who: tuple[str, str]) -> dict:
    resp = client.post("/introspect", auth=who, data={"token": token})
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body: dict = resp.json()
    return body


def _userinfo(client: TestClient, access: str) -> int:
    return client.get("/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code


def test_access_token_introspect_and_revoke(client: TestClient, deployment: Deployment):
    """RFC 7662 2.2 (active token's claims), RFC 7009 2.1/2.2 (revoke; twice is a no-op);
    a revoked access token is refused at UserInfo."""
    s1, _, user_id, _ = _setup(client, deployment)
    body = _tokens(client, s1)
    seen = _introspect(client, body["access_token"], ("rp1", s1))
    assert seen["active"] is True and seen["client_id"] == "rp1" and seen["sub"] == user_id
    assert seen["token_type"] == "Bearer" and "openid" in seen["scope"].split()
    for _ in range(2):
        resp = client.post(
            "/revoke",
            auth=("rp1", s1),
            data={"token": body["access_token"], "token_type_hint": "access_token"},
        )
        assert resp.status_code == 200
    assert _introspect(client, body["access_token"], ("rp1", s1)) == {"active": False}
    assert _userinfo(client, body["access_token"]) == 401
    # The refresh token is another credential: revoking the access token leaves it.
    assert _introspect(client, body["refresh_token"], ("rp1", s1))["active"] is True


def test_revoking_refresh_token_ends_its_grant(client: TestClient, deployment: Deployment):
    """RFC 7009 2.1: revoking a refresh token invalidates it and the access tokens of the
    same grant; the refresh grant then fails with invalid_grant."""
    s1, _, user_id, _ = _setup(client, deployment)
    body = _tokens(client, s1)
    refresh = body["refresh_token"]
    seen = _introspect(client, refresh, ("rp1", s1))
    assert seen["active"] is True and seen["sub"] == user_id and seen["client_id"] == "rp1"
    assert "offline_access" in seen["scope"].split() and "token_type" not in seen
    # Rotate once: the old refresh token is spent, the new one active.
    rotated = client.post(
        "/token",
        auth=("rp1", s1),
        data={"grant_type": "refresh_token", "refresh_token": refresh},
    ).json()
    assert _introspect(client, refresh, ("rp1", s1)) == {"active": False}
    new_refresh = rotated["refresh_token"]
    resp = client.post(
        "/revoke", auth=("rp1", s1), data={"token": new_refresh, "token_type_hint": "foo"}
    )
    assert resp.status_code == 200
    assert _introspect(client, new_refresh, ("rp1", s1)) == {"active": False}
    for access in (body["access_token"], rotated["access_token"]):
        assert _introspect(client, access, ("rp1", s1)) == {"active": False}
        assert _userinfo(client, access) == 401
    again = client.post(
        "/token",
        auth=("rp1", s1),
        data={"grant_type": "refresh_token", "refresh_token": new_refresh},
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_foreign_unknown_and_expired_tokens(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """RFC 7009 2.1 (only the client's own tokens; another's is unauthorized_client) and
    RFC 7662 2.2 (unknown, foreign or expired tokens are just inactive: nothing leaks)."""
    s1, s2, _, _ = _setup(client, deployment)
    body = _tokens(client, s1)
    for token in (body["access_token"], body["refresh_token"]):
        assert _introspect(client, token, ("rp2", s2)) == {"active": False}
        resp = client.post("/revoke", auth=("rp2", s2), data={"token": token})
        assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"
        assert _introspect(client, token, ("rp1", s1))["active"] is True
    for unknown in ("ost_rt_nothing", "not-a-token", "a.b.c"):
        assert _introspect(client, unknown, ("rp1", s1)) == {"active": False}
        assert client.post("/revoke", auth=("rp1", s1), data={"token": unknown}).status_code == 200
    missing = client.post("/introspect", auth=("rp1", s1), data={})
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
    clock.advance(timedelta(minutes=11))  # past the 10-minute access token lifetime
    assert _introspect(client, body["access_token"], ("rp1", s1)) == {"active": False}
    assert _introspect(client, body["refresh_token"], ("rp1", s1))["active"] is True
    clock.advance(timedelta(days=31))  # past the sliding 30-day refresh lifetime
    assert _introspect(client, body["refresh_token"], ("rp1", s1)) == {"active": False}


def test_inactive_user_tokens_are_inactive_everywhere(client: TestClient, deployment: Deployment):
    """Issue 6 point 7 (deprovisioning): a deactivated user's tokens are inactive at
    introspection and refused at UserInfo even when not on the revocation set (the user
    record is checked on every call); a deleted user's tokens too."""
    s1, _, user_id, key = _setup(client, deployment)
    body = _tokens(client, s1)
    assert _userinfo(client, body["access_token"]) == 200
    # Deactivate behind the SCIM API's back: nothing is revoked, only the record changes.
    with deployment.db.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(active=False))
    assert _userinfo(client, body["access_token"]) == 401
    for token in (body["access_token"], body["refresh_token"]):
        assert _introspect(client, token, ("rp1", s1)) == {"active": False}
    with deployment.db.begin() as conn:
        conn.execute(update(users).where(users.c.id == user_id).values(active=True))
    assert _introspect(client, body["access_token"], ("rp1", s1))["active"] is True
    gone = client.delete(f"/scim/v2/Users/{user_id}", headers={"Authorization": f"Bearer {key}"})
    assert gone.status_code == 204
    for token in (body["access_token"], body["refresh_token"]):
        assert _introspect(client, token, ("rp1", s1)) == {"active": False}


def test_public_client_may_revoke_but_not_introspect(client: TestClient, deployment: Deployment):
    """RFC 7009 2.1 lets a public client revoke its tokens with its client_id; RFC 7662
    2.1 wants introspection callers authorized, which a client id alone is not."""
    register(client.app, client_type="public")
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    code, verifier = code_for(client, scope=SCOPE)
    body = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "rp1",
            "code_verifier": verifier,
        },
    ).json()
    token = body["access_token"]
    refused = client.post("/introspect", data={"token": token, "client_id": "rp1"})
    assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
    revoked = client.post("/revoke", data={"token": token, "client_id": "rp1"})
    assert revoked.status_code == 200
    assert _userinfo(client, token) == 401
