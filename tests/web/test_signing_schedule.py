"""The running server rotates on schedule by itself (issue 6 point 1, the
oidcc-server-rotate-keys expectations): the key that starts signing was in the JWKS
long before, and the key it replaces stays published until its tokens have expired."""

from __future__ import annotations

from datetime import timedelta

from joserfc import jwk, jwt
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from tests.support.deploy import Deployment
from tests.support.oauth import basic

CC = {"grant_type": "client_credentials"}


def _kids(client: TestClient) -> set[str]:
    return {k["kid"] for k in client.get("/jwks").json()["keys"]}


def _token_kid(client: TestClient, auth: dict[str, str]) -> tuple[str, str]:
    token = client.post("/token", data=CC, headers=auth).json()["access_token"]
    return jwt.decode(
        token, jwk.KeySet.import_key_set(client.get("/jwks").json()), algorithms=["ES256"]
    ).header["kid"], token


def test_scheduled_rotation_with_prepublished_and_lingering_keys(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    key = deployment.make_key(["users:read"], lifetime=timedelta(days=80))
    auth = basic(key.record.id, key.token)
    published_before = _kids(client)
    old_kid, old_token = _token_kid(client, auth)

    clock.advance(timedelta(days=deployment.settings.signing_key_rotate_days, minutes=2))
    new_kid, _ = _token_kid(client, auth)
    assert new_kid != old_kid
    assert new_kid in published_before  # published a rotation period before it signed
    assert old_kid in _kids(client)  # still verifiable: tokens it signed may be alive

    clock.advance(timedelta(minutes=20))  # past every token lifetime + cache refresh
    assert old_kid not in _kids(client)
    refused = client.get("/scim/v2/Users/x", headers={"Authorization": f"Bearer {old_token}"})
    assert refused.status_code == 401
