"""The first vertical slice: POST and GET /scim/v2/Users behind a provisioning key.

RFC 7644 sections 3.3 (create), 3.4.1 (retrieve), 3.12 (errors); RFC 6750 section 3
(the WWW-Authenticate challenge on 401)."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.keys.models import KeyStatus
from ostiary.store.repositories.keys import KeyRepository
from tests.support.deploy import Deployment

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


def _ada() -> dict[str, object]:
    return {
        "schemas": [USER],
        "userName": "ada@example.com",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
        "password": "correct horse battery staple",
    }


def test_create_then_get(client: TestClient, deployment: Deployment):
    key = deployment.make_key().token
    created = client.post("/scim/v2/Users", json=_ada(), headers=_auth(key))
    assert created.status_code == 201
    assert created.headers["content-type"] == "application/scim+json"
    body = created.json()
    assert created.headers["location"] == body["meta"]["location"]
    assert created.headers["etag"] == body["meta"]["version"] == 'W/"1"'
    assert "password" not in body
    got = client.get(f"/scim/v2/Users/{body['id']}", headers=_auth(key))
    assert got.status_code == 200
    assert got.json() == body


def test_read_only_input_is_ignored(client: TestClient, deployment: Deployment):
    key = deployment.make_key().token
    doc = _ada() | {"id": "chosen-by-client", "meta": {"version": 'W/"99"'}, "groups": []}
    body = client.post("/scim/v2/Users", json=doc, headers=_auth(key)).json()
    assert body["id"] != "chosen-by-client"
    assert body["meta"]["version"] == 'W/"1"'


def test_duplicate_user_name_is_409_uniqueness(client: TestClient, deployment: Deployment):
    key = deployment.make_key().token
    assert client.post("/scim/v2/Users", json=_ada(), headers=_auth(key)).status_code == 201
    dup = _ada() | {"userName": "ADA@example.com"}
    resp = client.post("/scim/v2/Users", json=dup, headers=_auth(key))
    assert resp.status_code == 409
    assert resp.json()["scimType"] == "uniqueness"
    assert resp.json()["schemas"] == [ERROR]


@pytest.mark.parametrize(
    "body, scim_type",
    [
        (b"{not json", "invalidSyntax"),
        (b'{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]}', "invalidValue"),
        (b'{"userName": "x"}', "invalidValue"),
        (
            b'{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"x","active":"maybe"}',
            "invalidValue",
        ),
    ],
)
def test_bad_input_is_a_400_in_scim_format(
    client: TestClient, deployment: Deployment, body: bytes, scim_type: str
):
    key = deployment.make_key().token
    resp = client.post("/scim/v2/Users", content=body, headers=_auth(key))
    assert resp.status_code == 400
    assert resp.json()["scimType"] == scim_type


def test_unknown_user_is_404_in_scim_format(client: TestClient, deployment: Deployment):
    key = deployment.make_key().token
    resp = client.get("/scim/v2/Users/does-not-exist", headers=_auth(key))
    assert resp.status_code == 404
    assert resp.json()["schemas"] == [ERROR]


def _assert_401(resp) -> None:  # type: ignore[no-untyped-def]
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert resp.json()["schemas"] == [ERROR]
    assert resp.json()["status"] == "401"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "Bearer not-a-key",
        "Bearer ost_pk_AAAAAAAAAAAA_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA000000",
    ],
)
def test_missing_or_malformed_key_is_401(client: TestClient, header: str | None):
    headers = {"Authorization": header} if header else {}
    _assert_401(client.get("/scim/v2/Users/x", headers=headers))


def test_wrong_secret_for_a_real_key_id_is_401(client: TestClient, deployment: Deployment):
    from ostiary.keys import format as key_format

    real = deployment.make_key().record.id
    forged = key_format.compose(real, "B" * key_format.SECRET_LEN)
    _assert_401(client.get("/scim/v2/Users/x", headers=_auth(forged)))


def test_expired_key_is_401(client: TestClient, deployment: Deployment, clock: FrozenClock):
    key = deployment.make_key(lifetime=timedelta(days=1), clock=clock).token
    assert client.get("/scim/v2/Users/x", headers=_auth(key)).status_code == 404
    clock.advance(timedelta(days=1, seconds=1))
    _assert_401(client.get("/scim/v2/Users/x", headers=_auth(key)))


@pytest.mark.parametrize("status", [KeyStatus.REVOKED, KeyStatus.DISABLED])
def test_revoked_or_disabled_key_is_401(
    client: TestClient, deployment: Deployment, clock: FrozenClock, status: KeyStatus
):
    new = deployment.make_key()
    with deployment.db.begin() as conn:
        KeyRepository(conn).set_status(new.record.id, status, clock.now())
    _assert_401(client.get("/scim/v2/Users/x", headers=_auth(new.token)))


def test_key_without_the_scope_is_403(client: TestClient, deployment: Deployment):
    key = deployment.make_key(["users:read"]).token
    resp = client.post("/scim/v2/Users", json=_ada(), headers=_auth(key))
    assert resp.status_code == 403
    assert resp.json()["schemas"] == [ERROR]


def test_create_is_audited_with_the_key_id_and_version(client: TestClient, deployment: Deployment):
    """Issue 5: a SCIM change made with key K carries K's id and version in its event."""
    from sqlalchemy import select

    from ostiary.store.tables_audit import audit_events

    new = deployment.make_key()
    created = client.post("/scim/v2/Users", json=_ada(), headers=_auth(new.token)).json()
    with deployment.db.read() as conn:
        row = conn.execute(
            select(audit_events).where(audit_events.c.action == "scim.user.create")
        ).one()
    assert row.target_id == created["id"]
    assert orjson.loads(row.entry)["actor"] == {
        "kind": "key",
        "id": new.record.id,
        "auth": "bearer_key",
        "key_version": 1,
    }
    assert "password" not in orjson.loads(row.entry)["after"]
    assert "correct horse" not in row.entry


def test_scope_denial_is_audited(client: TestClient, deployment: Deployment):
    from sqlalchemy import select

    from ostiary.store.tables_audit import audit_events

    new = deployment.make_key(["users:read"])
    client.post("/scim/v2/Users", json=_ada(), headers=_auth(new.token))
    with deployment.db.read() as conn:
        row = conn.execute(
            select(audit_events).where(audit_events.c.action == "auth.scope.denied")
        ).one()
    # The outcome is in the entry only (migration 0024).
    assert orjson.loads(row.entry)["outcome"] == "denied" and row.actor_id == new.record.id
