"""Deactivating a user over SCIM revokes every token their sign-ins minted, in the same
transaction (issue 7 point 1): refresh grants end, access tokens join the revocation set,
UserInfo refuses them, and reactivation brings none of them back."""

from __future__ import annotations

import json

import orjson
from joserfc.jws import extract_compact
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.tables_audit import audit_events
from tests.support.deploy import Deployment
from tests.support.rp import code_flow_tokens, register, scim_user

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _tokens(client: TestClient) -> dict[str, str]:
    return code_flow_tokens(client)


def _active(client: TestClient, key: str, user_id: str, value: object) -> None:
    resp = client.patch(
        f"/scim/v2/Users/{user_id}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": value}],
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 200, resp.text


def test_deactivation_revokes_refresh_and_access_tokens(client: TestClient, deployment: Deployment):
    register(client.app, client_type="public")
    key = deployment.make_key(["users:read", "users:write", "users:deprovision"]).token
    user_id = scim_user(client, key)
    tokens = _tokens(client)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 200

    _active(client, key, user_id, False)

    jti = json.loads(extract_compact(tokens["access_token"].encode()).payload)["jti"]
    with deployment.db.read() as conn:
        assert RevocationRepository(conn).is_revoked(jti)
    assert client.get("/userinfo", headers=bearer).status_code == 401
    refreshed = client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "rp1",
        },
    )
    assert refreshed.status_code == 400 and refreshed.json()["error"] == "invalid_grant"

    _active(client, key, user_id, True)  # reactivation brings no old token back
    assert client.get("/userinfo", headers=bearer).status_code == 401
    again = client.post(
        "/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": tokens["refresh_token"],
            "client_id": "rp1",
        },
    )
    assert again.status_code == 400

    with deployment.db.read() as conn:
        event = conn.execute(
            select(audit_events.c.entry).where(audit_events.c.action == "scim.user.deactivate")
        ).scalar_one()
    assert orjson.loads(event)["detail"]["access_tokens_revoked"] == 1
