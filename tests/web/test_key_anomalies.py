"""Anomalies over HTTP (issue 4 point 8): each raises a security event (audit + webhook)
and applies its configured action; a deprovisioning burst can be held for a second
administrator's approval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.core.clock import FrozenClock
from ostiary.keys import scopes
from ostiary.store.tables_audit import audit_events
from ostiary.web.keys import approvals
from ostiary.web.scim.auth import authenticate, guard_deprovision, held_response
from ostiary.web.scim.endpoint import scim_endpoint
from ostiary.web.scim.responses import scim_json
from tests.support.keys import admin_token, app_client, auth, other_ip
from tests.support.webhook import deliver_key_events, webhook_receiver

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


def _events(dep, prefix: str):  # type: ignore[no-untyped-def]
    with dep.db.read() as conn:
        rows = conn.execute(select(audit_events).order_by(audit_events.c.seq)).all()
    return [r for r in rows if r.action.startswith(prefix)]


def test_new_network_raises_an_event_and_can_suspend_the_key(
    sqlite_url: str, tmp_path: Path, clock: FrozenClock
):
    with (
        webhook_receiver() as (url, received),
        app_client(
            sqlite_url,
            tmp_path,
            clock,
            key_webhook_url=url,
            key_anomaly_actions={"new_network": "suspend"},
        ) as (tc, dep),
    ):
        key = dep.make_key(clock=clock)
        assert tc.get("/scim/v2/Users/x", headers=auth(key.token)).status_code == 404
        away = other_ip(tc, "198.51.100.5")
        # The request that reveals the anomaly is served; the key is suspended after it.
        assert away.get("/scim/v2/Users/x", headers=auth(key.token)).status_code == 404
        assert tc.get("/scim/v2/Users/x", headers=auth(key.token)).status_code == 401
        (event,) = _events(dep, "key.anomaly.new_network")
        assert event.target_id == key.record.id
        assert orjson.loads(event.entry)["detail"]["network"] == "198.51.100.0/24"
        assert [e.action for e in _events(dep, "key.suspend")] == ["key.suspend"]
        events = deliver_key_events(tc, received)
        notes = [d for d in events if d["event"] == "key.security_event"]
        assert [(n["kind"], n["applied"]) for n in notes] == [
            ("new_network", "key.suspend"),
            ("retired_key_use", None),  # the suspended key was tried again
        ]


def test_scope_denial_burst_can_require_dpop(sqlite_url: str, tmp_path: Path, clock):
    with app_client(
        sqlite_url,
        tmp_path,
        clock,
        key_denial_burst=3,
        key_anomaly_actions={"scope_denials": "require_dpop"},
    ) as (tc, dep):
        key = dep.make_key(["users:read"], clock=clock)
        doc = {"schemas": [USER], "userName": "x"}
        for _ in range(3):
            assert tc.post("/scim/v2/Users", json=doc, headers=auth(key.token)).status_code == 403
        assert _events(dep, "key.anomaly.scope_denials")
        refused = tc.get("/scim/v2/Users/x", headers=auth(key.token))
        assert refused.status_code == 401 and "DPoP" in refused.json()["detail"]


def test_use_of_a_rotated_out_key_is_an_anomaly(sqlite_url: str, tmp_path: Path, clock):
    with app_client(sqlite_url, tmp_path, clock) as (tc, dep):
        h = {"Authorization": f"Bearer {admin_token(dep, clock)}"}
        key = dep.make_key(clock=clock)
        tc.post(f"/api/v1/keys/{key.record.id}/rotate", json={"overlap": "1h"}, headers=h)
        clock.advance(timedelta(hours=2))
        assert tc.get("/scim/v2/Users/x", headers=auth(key.token)).status_code == 401
        (event,) = _events(dep, "key.anomaly.retired_key_use")
        assert orjson.loads(event.entry)["detail"]["reason"] == "rotated"


@scim_endpoint
def _deprovision(request: Request, raw: bytes) -> Response:
    """What a SCIM deprovisioning handler does (the test stands in for DELETE /Users)."""
    principal = authenticate(request, scopes.USERS_DEPROVISION)
    op = {"method": "DELETE", "path": request.url.path}
    held = guard_deprovision(request, principal, 1, op)
    if held is not None:
        return held_response(held)
    return scim_json({"deprovisioned": 1})


def test_deprovisioning_burst_is_held_for_a_second_administrator(
    sqlite_url: str, tmp_path: Path, clock: FrozenClock
):
    applied: list[dict[str, object]] = []
    approvals.register("scim.deprovision", lambda _ctx, payload: applied.append(payload))
    try:
        with app_client(
            sqlite_url,
            tmp_path,
            clock,
            key_deprovision_min=3,
            key_deprovision_share=0.1,
            key_anomaly_actions={"deprovision_burst": "hold"},
        ) as (tc, dep):
            tc.app.router.routes.insert(
                0, Route("/test/deprovision/{n}", _deprovision, methods=["DELETE"])
            )
            key = dep.make_key(["users:write", "users:deprovision"], clock=clock)
            for i in range(20):
                doc = {"schemas": [USER], "userName": f"u{i}@example.com"}
                assert tc.post("/scim/v2/Users", json=doc, headers=auth(key.token)).is_success
            statuses = [
                tc.delete(f"/test/deprovision/{i}", headers=auth(key.token)).status_code
                for i in range(4)
            ]
            assert statuses == [200, 200, 202, 202]
            h = {"Authorization": f"Bearer {admin_token(dep, clock)}"}
            pending = tc.get("/api/v1/approvals", headers=h).json()
            assert len(pending) == 2 and {p["key_id"] for p in pending} == {key.record.id}
            first, second = (p["id"] for p in pending)
            ok = tc.post(f"/api/v1/approvals/{first}/approve", headers=h)
            assert ok.json() == {"id": first, "status": "approved", "applied": True}
            assert applied == [{"method": "DELETE", "path": "/test/deprovision/2"}]
            assert (
                tc.post(f"/api/v1/approvals/{second}/deny", headers=h).json()["status"] == "denied"
            )
            assert tc.post(f"/api/v1/approvals/{second}/approve", headers=h).status_code == 409
            assert len(applied) == 1
            assert _events(dep, "approval.approved") and _events(dep, "approval.denied")
            assert len(_events(dep, "key.anomaly.deprovision_burst")) == 2
    finally:
        approvals._appliers.pop("scim.deprovision", None)
