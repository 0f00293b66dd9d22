"""A Bulk request's audit events are appended together just before its commit (so the
audit head is locked only at the end, not from the first operation), in operation order
with the request's summary last; a failed operation's savepoint takes its events with it
(RFC 7644 section 3.7: each operation "as if it were a single request"). SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.audit.events import Actor, RequestInfo
from ostiary.scim.registry import build_registry
from ostiary.store.tables_audit import audit_events
from ostiary.web.scim.call import Call
from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, BULK, GROUP, auth, user_body


def _actions(dep: Deployment, since: int = -1) -> list[tuple[str, str | None]]:
    with dep.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.action, audit_events.c.target_id)
            .where(audit_events.c.seq > since)
            .order_by(audit_events.c.seq)
        )
        return [(r.action, r.target_id) for r in rows]


def _last_seq(dep: Deployment) -> int:
    """The newest event's tree position (they start at 0), -1 with none."""
    with dep.db.read() as conn:
        newest = conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq.desc()))
        seq = newest.scalars().first()
        return -1 if seq is None else int(seq)


@pytest.fixture
def key(deployment: Deployment) -> str:
    return deployment.make_key(ALL_SCOPES).token


def test_events_in_operation_order_summary_last(
    client: TestClient, deployment: Deployment, key: str
) -> None:
    """Creates, a group write and a failing operation in one request: one event per
    successful operation in request order, none for the failure, the summary last."""
    before = _last_seq(deployment)
    group: dict[str, Any] = {"schemas": [GROUP], "displayName": "team"}
    ops = [
        {"method": "POST", "path": "/Users", "bulkId": "a", "data": user_body("a@example.com")},
        {"method": "POST", "path": "/Groups", "bulkId": "g", "data": group},
        {
            "method": "PATCH",
            "path": "/Groups/bulkId:g",
            "data": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": "nobody"}]}],
            },
        },
        {
            "method": "PATCH",
            "path": "/Groups/bulkId:g",
            "data": {
                "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:a"}]}],
            },
        },
        {"method": "POST", "path": "/Users", "bulkId": "b", "data": user_body("b@example.com")},
    ]
    resp = client.post(
        "/scim/v2/Bulk", json={"schemas": [BULK], "Operations": ops}, headers=auth(key)
    )
    assert resp.status_code == 200, resp.text
    statuses = [o["status"] for o in resp.json()["Operations"]]
    assert statuses == ["201", "201", "400", "200", "201"] or statuses == [
        "201",
        "201",
        "400",
        "204",
        "201",
    ]
    actions = [a for a, _ in _actions(deployment, before)]
    assert actions == [
        "scim.user.create",
        "scim.group.create",
        "scim.group.members.add",
        "scim.user.create",
        "scim.bulk",
    ]
    assert deployment.audit_verifies()


def test_a_failed_savepoint_drops_its_deferred_events(deployment: Deployment) -> None:
    """Events a failed operation left for the deferred append leave with its savepoint;
    those of the operations around it are appended, in order, on leaving."""
    before = _last_seq(deployment)
    now = datetime.now(UTC)
    with deployment.db.begin() as conn:
        call = Call(
            conn=conn,
            base="https://example.test/scim/v2",
            registry=build_registry(),
            now=now,
            actor=Actor(kind="system", id="test"),
            scopes=frozenset(),
            info=RequestInfo(),
        )
        with call.deferred() as events:
            with call.savepoint():
                call.audit("test.kept.1", "User", "u1")
            with pytest.raises(RuntimeError), call.savepoint():
                call.audit("test.dropped", "User", "u2")
                raise RuntimeError("the operation fails after auditing")
            with call.savepoint():
                call.audit("test.kept.2", "User", "u3")
            # Nothing appended yet, as this transaction itself sees it.
            pending = select(audit_events.c.seq).where(audit_events.c.seq > before)
            assert conn.execute(pending).first() is None
            events.append(call.event("test.summary", "Bulk", "1"))
    assert _actions(deployment, before) == [
        ("test.kept.1", "u1"),
        ("test.kept.2", "u3"),
        ("test.summary", "1"),
    ]
    assert deployment.audit_verifies()
