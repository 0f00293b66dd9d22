"""Refresh tokens (issue 6 point 5; RFC 6749 section 6, RFC 9700 4.14.2): issued with
offline_access, rotated on use, stored hashed; reuse after the grace window revokes the
whole grant (refresh and access tokens); a reused code also revokes its refresh token."""

from __future__ import annotations

import json
from datetime import timedelta

from joserfc.jws import extract_compact
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.tables_oidc_code import oidc_refresh_tokens
from tests.support.deploy import Deployment
from tests.support.rp import (
    REDIRECT,
    code_for,
    register,
    scim_user,
    verify_id_token,
)


def _code(client: TestClient, scope: str) -> tuple[str, str]:
    return code_for(client, scope=scope)


def _exchange(client: TestClient, code: str, verifier: str):
    return client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "rp1",
            "code_verifier": verifier,
        },
    )


def _refresh(client: TestClient, token: str, **extra: str):
    return client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": "rp1", **extra},
    )


def _jti(access_token: str) -> str:
    return json.loads(extract_compact(access_token.encode()).payload)["jti"]


def _setup(client: TestClient, dep: Deployment) -> None:
    register(client.app, client_type="public")
    scim_user(client, dep.make_key(["users:read", "users:write"]).token)


def test_refresh_token_only_with_offline_access(client: TestClient, deployment: Deployment):
    """OIDC Core 11: offline_access asks for a refresh token."""
    _setup(client, deployment)
    plain = _exchange(client, *_code(client, "openid")).json()
    assert "refresh_token" not in plain
    offline = _exchange(client, *_code(client, "openid offline_access")).json()
    assert offline["refresh_token"].startswith("ost_rt_")
    with deployment.db.read() as conn:
        stored = [r.token_hash for r in conn.execute(select(oidc_refresh_tokens.c.token_hash))]
    assert len(stored) == 1 and offline["refresh_token"].encode() not in stored


def test_rotation_and_reuse_revokes_the_grant(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """RFC 9700 4.14.2: rotation; replaying a rotated token revokes the whole grant."""
    _setup(client, deployment)
    first = _exchange(client, *_code(client, "openid offline_access")).json()
    clock.advance(timedelta(seconds=30))
    second = _refresh(client, first["refresh_token"])
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["refresh_token"] != first["refresh_token"]
    claims = verify_id_token(client, body["id_token"], audience="rp1")
    assert "nonce" not in claims and claims["iat"] == int(clock.now().timestamp())
    clock.advance(timedelta(seconds=60))  # past the 10-second grace window
    replay = _refresh(client, first["refresh_token"])
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    # The whole grant is gone: the newest refresh token and the access tokens too.
    assert _refresh(client, body["refresh_token"]).json()["error"] == "invalid_grant"
    with deployment.db.read() as conn:
        revocations = RevocationRepository(conn)
        assert revocations.is_revoked(_jti(first["access_token"]))
        assert revocations.is_revoked(_jti(body["access_token"]))


def test_concurrent_refresh_within_grace_window(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """A second refresh with the same token within the grace window still succeeds."""
    _setup(client, deployment)
    first = _exchange(client, *_code(client, "openid offline_access")).json()
    a = _refresh(client, first["refresh_token"])
    clock.advance(timedelta(seconds=5))
    b = _refresh(client, first["refresh_token"])
    assert a.status_code == b.status_code == 200
    assert _refresh(client, b.json()["refresh_token"]).status_code == 200


def test_scope_may_narrow_not_grow(client: TestClient, deployment: Deployment):
    """RFC 6749 section 6: the refreshed scope must not exceed the original grant."""
    _setup(client, deployment)
    first = _exchange(client, *_code(client, "openid email offline_access")).json()
    wider = _refresh(client, first["refresh_token"], scope="openid email profile")
    assert wider.json()["error"] == "invalid_scope"
    narrow = _refresh(client, first["refresh_token"], scope="openid")
    assert narrow.status_code == 200 and narrow.json()["scope"] == "openid"


def test_reused_code_revokes_the_refresh_token_too(client: TestClient, deployment: Deployment):
    """RFC 6749 4.1.2: tokens issued from a replayed code are revoked, refresh included."""
    _setup(client, deployment)
    code, verifier = _code(client, "openid offline_access")
    first = _exchange(client, code, verifier).json()
    assert _exchange(client, code, verifier).json()["error"] == "invalid_grant"
    assert _refresh(client, first["refresh_token"]).json()["error"] == "invalid_grant"
