"""Revocation (RFC 7009 sections 2.1-2.2) and introspection (RFC 7662 sections 2.1-2.2)
of access tokens issued by client_credentials (issue 6 point 7)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.keys.models import KeyStatus
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.tables_audit import audit_events
from tests.support.deploy import Deployment
from tests.support.oauth import basic

CC = {"grant_type": "client_credentials"}


def _token(client: TestClient, auth: dict[str, str]) -> str:
    resp = client.post("/token", data=CC, headers=auth)
    assert resp.status_code == 200, resp.text
    return str(resp.json()["access_token"])


def test_introspect_then_revoke(client: TestClient, deployment: Deployment):
    key = deployment.make_key(["users:read"])
    auth = basic(key.record.id, key.token)
    token = _token(client, auth)
    info = client.post("/introspect", data={"token": token}, headers=auth)
    assert info.status_code == 200 and info.headers["cache-control"] == "no-store"
    body = info.json()
    assert body["active"] is True and body["client_id"] == key.record.id
    assert body["scope"] == "users:read" and body["token_type"] == "Bearer"
    scim = {"Authorization": f"Bearer {token}"}
    assert client.get("/scim/v2/Users/nobody", headers=scim).status_code == 404

    revoked = client.post(
        "/revoke", data={"token": token, "token_type_hint": "access_token"}, headers=auth
    )
    assert revoked.status_code == 200
    assert client.post("/revoke", data={"token": token}, headers=auth).status_code == 200
    assert client.post("/introspect", data={"token": token}, headers=auth).json() == {
        "active": False
    }
    refused = client.get("/scim/v2/Users/nobody", headers=scim)
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    with deployment.db.read() as conn:
        actions = conn.execute(select(audit_events.c.action)).scalars().all()
    assert actions.count("oauth.token.revoke") == 1


def test_expired_token_and_disabled_key_are_inactive(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    key = deployment.make_key(["users:read"])
    auth = basic(key.record.id, key.token)
    token = _token(client, auth)
    clock.advance(deployment.settings.access_token_lifetime_seconds + 10)
    assert client.post("/introspect", data={"token": token}, headers=auth).json() == {
        "active": False
    }
    fresh = _token(client, auth)
    with deployment.db.begin() as conn:
        KeyRepository(conn).set_status(key.record.id, KeyStatus.DISABLED, datetime.now(UTC))
    other = deployment.make_key(["users:read"])
    # The disabled key cannot authenticate any more; nobody else sees its token as active.
    other_auth = basic(other.record.id, other.token)
    assert client.post("/introspect", data={"token": fresh}, headers=other_auth).json() == {
        "active": False
    }


def test_other_clients_tokens_and_bad_requests(client: TestClient, deployment: Deployment):
    mine = deployment.make_key(["users:read"])
    theirs = deployment.make_key(["users:read"])
    my_auth = basic(mine.record.id, mine.token)
    their_token = _token(client, basic(theirs.record.id, theirs.token))
    assert client.post("/introspect", data={"token": their_token}, headers=my_auth).json() == {
        "active": False
    }
    refused = client.post("/revoke", data={"token": their_token}, headers=my_auth)
    assert refused.status_code == 400 and refused.json()["error"] == "unauthorized_client"
    garbage = client.post("/revoke", data={"token": "not-a-token"}, headers=my_auth)
    assert garbage.status_code == 200
    anonymous = client.post("/introspect", data={"token": their_token})
    assert anonymous.status_code == 401 and anonymous.json()["error"] == "invalid_client"
    missing = client.post("/revoke", data={}, headers=my_auth)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"
