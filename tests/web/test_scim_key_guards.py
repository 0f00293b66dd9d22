"""SCIM writes pass through the provisioning-key guards (issue 4 policy, issue 3 endpoints):
attribute restrictions on every write path, and the deprovisioning-burst hold on
DELETE, deactivation by PUT/PATCH and Bulk; an approved hold is applied."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from ostiary.core.clock import FrozenClock
from ostiary.keys.models import KeyBinding
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.tables_audit import audit_events
from ostiary.web.keys import approvals
from ostiary.web.keys.guards import DEPROVISION
from ostiary.web.scim import guards
from tests.support.deploy import Deployment
from tests.support.keys import admin_token, app_client
from tests.web.scim_support import BULK, GROUP, PATCH, auth, user_body


def _actions(dep: Deployment) -> list[str]:
    with dep.db.read() as conn:
        return list(conn.execute(select(audit_events.c.action)).scalars())


def _restrict(dep: Deployment, key_id: str, **attributes: frozenset[str]) -> None:
    with dep.db.begin() as conn:
        KeyRepository(conn).set_binding(key_id, KeyBinding(attributes=attributes))


def test_attribute_restrictions_apply_to_every_write(
    sqlite_url: str, tmp_path: Path, clock: FrozenClock
):
    with app_client(sqlite_url, tmp_path, clock) as (tc, dep):
        key = dep.make_key(["users:read", "users:write", "groups:write", "bulk"], clock=clock)
        _restrict(dep, key.record.id, User=frozenset({"username", "name", "emails", "active"}),
                  Group=frozenset({"displayname"}))
        h = auth(key.token)
        ok = tc.post("/scim/v2/Users", json=user_body("a@x.example"), headers=h)
        assert ok.status_code == 201
        url = f"/scim/v2/Users/{ok.json()['id']}"
        title = user_body("a@x.example", title="CEO")
        assert tc.post("/scim/v2/Users", json=title, headers=h).status_code == 403
        assert tc.put(url, json=title, headers=h).status_code == 403
        op = {"schemas": [PATCH], "Operations": [{"op": "add", "path": "title", "value": "x"}]}
        assert tc.patch(url, json=op, headers=h).status_code == 403
        group = {"schemas": [GROUP], "displayName": "G", "externalId": "e"}
        assert tc.post("/scim/v2/Groups", json=group, headers=h).status_code == 403
        bulk = {"schemas": [BULK], "Operations": [
            {"method": "POST", "path": "/Users", "bulkId": "ok", "data": user_body("b@x.example")},
            {"method": "POST", "path": "/Users", "bulkId": "no",
             "data": user_body("c@x.example", title="CEO")},
        ]}
        ops = tc.post("/scim/v2/Bulk", json=bulk, headers=h).json()["Operations"]
        assert [o["status"] for o in ops] == ["201", "403"]
        assert _actions(dep).count("auth.attributes.denied") == 5


def test_deprovisioning_bursts_are_held_then_applied_on_approval(
    sqlite_url: str, tmp_path: Path, clock: FrozenClock
):
    approvals.register(DEPROVISION, guards.apply_held)  # other tests may swap the applier
    with app_client(sqlite_url, tmp_path, clock, key_deprovision_min=3,
                    key_deprovision_share=0.01,
                    key_anomaly_actions={"deprovision_burst": "hold"}) as (tc, dep):
        key = dep.make_key(["users:read", "users:write", "users:deprovision", "bulk"],
                           clock=clock)
        h = auth(key.token)
        ids = [tc.post("/scim/v2/Users", json=user_body(f"u{i}@x.example", active=True),
                       headers=h).json()["id"] for i in range(6)]
        assert tc.delete(f"/scim/v2/Users/{ids[0]}", headers=h).status_code == 204
        assert tc.delete(f"/scim/v2/Users/{ids[1]}", headers=h).status_code == 204
        held = tc.delete(f"/scim/v2/Users/{ids[2]}", headers=h)
        assert held.status_code == 202 and held.json()["status"] == "held"
        off = {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active",
                                                   "value": "False"}]}
        assert tc.patch(f"/scim/v2/Users/{ids[3]}", json=off, headers=h).status_code == 202
        bulk = {"schemas": [BULK], "Operations": [{"method": "DELETE",
                                                   "path": f"/Users/{ids[4]}"}]}
        assert tc.post("/scim/v2/Bulk", json=bulk, headers=h).status_code == 202
        # Nothing happened yet.
        assert tc.get(f"/scim/v2/Users/{ids[2]}", headers=h).status_code == 200
        assert tc.get(f"/scim/v2/Users/{ids[3]}", headers=h).json()["active"] is True
        admin = {"Authorization": f"Bearer {admin_token(dep, clock)}"}
        for pending in tc.get("/api/v1/approvals", headers=admin).json():
            resp = tc.post(f"/api/v1/approvals/{pending['id']}/approve", headers=admin)
            assert resp.json()["applied"] is True
        assert tc.get(f"/scim/v2/Users/{ids[2]}", headers=h).status_code == 404
        assert tc.get(f"/scim/v2/Users/{ids[3]}", headers=h).json()["active"] is False
        assert tc.get(f"/scim/v2/Users/{ids[4]}", headers=h).status_code == 404
        assert tc.get(f"/scim/v2/Users/{ids[5]}", headers=h).status_code == 200
        assert _actions(dep).count("scim.user.delete") == 4
