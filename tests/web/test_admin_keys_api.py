"""The admin REST API for keys (issue 4 points 3, 5, 10; issue 9 point 1 admin tokens).

Every action goes through HTTP with an ``ost_at_`` admin token and is audited with it as
the acting identity."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select

from ostiary.core.clock import FrozenClock
from ostiary.store.tables_audit import audit_events
from tests.support.keys import ALL_ADMIN, admin_token, app_client, auth


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _events(dep, action: str):  # type: ignore[no-untyped-def]
    with dep.db.read() as conn:
        return conn.execute(select(audit_events).where(audit_events.c.action == action)).all()


def test_key_lifecycle_through_the_api_is_audited_with_the_admin_identity(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        admin = admin_token(dep, clock)
        admin_id = admin.split("_")[2]
        h = _bearer(admin)
        created = tc.post(
            "/api/v1/keys",
            json={"name": "hr", "scopes": ["users:read", "users:write"], "expires_in": "30d"},
            headers=h,
        )
        assert created.status_code == 201
        key_id, token = created.json()["id"], created.json()["key"]
        assert tc.get("/scim/v2/Users/x", headers=auth(token)).status_code == 404
        listed = tc.get("/api/v1/keys", headers=h).json()
        assert [k["id"] for k in listed] == [key_id]
        assert tc.post(f"/api/v1/keys/{key_id}/disable", headers=h).json()["status"] == "disabled"
        assert tc.get("/scim/v2/Users/x", headers=auth(token)).status_code == 401
        assert tc.post(f"/api/v1/keys/{key_id}/enable", headers=h).json()["status"] == "active"
        assert tc.get("/scim/v2/Users/x", headers=auth(token)).status_code == 404
        assert tc.post(f"/api/v1/keys/{key_id}/revoke", headers=h).json()["status"] == "revoked"
        again = tc.post(f"/api/v1/keys/{key_id}/enable", headers=h)
        assert again.status_code == 400 and "final" in again.json()["detail"]
        for action in ["key.create", "key.disable", "key.enable", "key.revoke"]:
            (row,) = _events(dep, action)
            assert orjson.loads(row.entry)["actor"] == {
                "kind": "admin",
                "id": admin_id,
                "auth": "admin_token",
            }
            assert row.target_id == key_id


def test_admin_api_needs_a_valid_scoped_token(database_url: str, tmp_path: Path, clock):
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        assert tc.get("/api/v1/keys").status_code == 401
        assert tc.get("/api/v1/keys", headers=_bearer("ost_at_garbage")).status_code == 401
        reader = admin_token(dep, clock, ["keys:read"])
        assert tc.get("/api/v1/keys", headers=_bearer(reader)).status_code == 200
        resp = tc.post(
            "/api/v1/keys", json={"name": "x", "scopes": ["users:read"]}, headers=_bearer(reader)
        )
        assert resp.status_code == 403
        expiring = admin_token(dep, clock, ["keys:read"])
        clock.advance(timedelta(days=31))
        assert tc.get("/api/v1/keys", headers=_bearer(expiring)).status_code == 401


def test_nobody_mints_or_rotates_a_key_broader_than_they_hold(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Issue 4 point 3: a token holding users:read may not create a users:write key."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        narrow = _bearer(admin_token(dep, clock, [*ALL_ADMIN, "users:read"]))
        resp = tc.post(
            "/api/v1/keys", json={"name": "x", "scopes": ["users:write"]}, headers=narrow
        )
        assert resp.status_code == 403 and "users:write" in resp.json()["detail"]
        ok = tc.post("/api/v1/keys", json={"name": "x", "scopes": ["users:read"]}, headers=narrow)
        assert ok.status_code == 201
        broad_key = dep.make_key(["users:read", "bulk"], clock=clock).record.id
        assert (
            tc.post(f"/api/v1/keys/{broad_key}/rotate", json={}, headers=narrow).status_code == 403
        )
        bad = tc.post("/api/v1/keys", json={"name": "x", "scopes": ["root"]}, headers=narrow)
        assert bad.status_code == 400


def test_rotation_overlap_both_work_then_only_the_new(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Issue 4 point 5: rotate with a 24h overlap."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        h = _bearer(admin_token(dep, clock))
        old = dep.make_key(clock=clock)
        resp = tc.post(f"/api/v1/keys/{old.record.id}/rotate", json={"overlap": "24h"}, headers=h)
        assert resp.status_code == 200
        new_token = resp.json()["key"]
        assert resp.json()["version"] == 2 and new_token != old.token
        for token in (old.token, new_token):
            assert tc.get("/scim/v2/Users/x", headers=auth(token)).status_code == 404
        clock.advance(timedelta(hours=24, seconds=1))
        assert tc.get("/scim/v2/Users/x", headers=auth(old.token)).status_code == 401
        assert tc.get("/scim/v2/Users/x", headers=auth(new_token)).status_code == 404
        (row,) = _events(dep, "key.rotate")
        assert orjson.loads(row.entry)["detail"]["version"] == 2


def test_binding_update_and_validation(database_url: str, tmp_path: Path, clock: FrozenClock):
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        h = _bearer(admin_token(dep, clock))
        key = dep.make_key(clock=clock)
        bad = tc.patch(
            f"/api/v1/keys/{key.record.id}", json={"allowed_cidrs": ["not-a-net"]}, headers=h
        )
        assert bad.status_code == 400
        resp = tc.patch(f"/api/v1/keys/{key.record.id}", json={"require_dpop": True}, headers=h)
        assert resp.status_code == 200 and resp.json()["require_dpop"] is True
        assert tc.get("/scim/v2/Users/x", headers=auth(key.token)).status_code == 401
        assert tc.get("/api/v1/keys/nope", headers=h).status_code == 404
        assert _events(dep, "key.update")


def test_openapi_documents_the_key_routes(client):  # type: ignore[no-untyped-def]
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in [
        "/api/v1/keys",
        "/api/v1/keys/{key_id}",
        "/api/v1/keys/{key_id}/rotate",
        "/api/v1/keys/{key_id}/disable",
        "/api/v1/keys/{key_id}/enable",
        "/api/v1/keys/{key_id}/revoke",
        "/api/v1/keys/report-leak",
        "/api/v1/keys/leaks/github",
        "/api/v1/keys/leaks/self-report",
        "/api/v1/approvals",
    ]:
        assert path in paths, path
