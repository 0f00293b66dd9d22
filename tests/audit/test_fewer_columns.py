"""Issue 5 point 6 (the audit adds under 10% to a SCIM create; docs/performance.md,
audit11): since migration 0024 ``audit_events`` keeps only the copies of the entry's
fields that the search indexes are built from (id, occurred_at, action, actor_id,
target_id). Point 2 still holds for them: ``ostiary audit verify`` names a copy that no
longer agrees with the hashed entry. The outcome, actor kind, target type, request id and
source IP are in the entry only, and the outcome filter (point 4's search) reads them
there, below and above the search batch boundary, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.audit.verify import ENTRY_AT, LEAF_AT, ROW_COLUMNS
from ostiary.store.repositories.audit import INDEX_BATCH, AuditLog, AuditQuery, AuditReader
from tests.audit.support import START, append_events, checkpoint, position_id, tamper, verify
from tests.support.deploy import Deployment

DROPPED = {"outcome", "actor_kind", "target_type", "request_id", "source_ip"}


def test_the_table_keeps_only_the_searched_copies(deployment: Deployment) -> None:
    with deployment.db.read() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("audit_events")}
    assert not columns & DROPPED
    assert columns == {"seq", *ROW_COLUMNS[2:]}
    assert ROW_COLUMNS[ENTRY_AT] == "entry" and ROW_COLUMNS[LEAF_AT] == "leaf_hash"


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("action", "'scim.user.delete'"),
        ("target_id", "'someone-else'"),
        ("occurred_at", "'2020-01-01 00:00:00.000000'"),
    ],
)
def test_a_changed_copy_is_named(deployment: Deployment, column: str, value: str) -> None:
    append_events(deployment, 6)
    checkpoint(deployment)
    victim = position_id(deployment, 2)
    tamper(deployment, f"UPDATE audit_events SET {column} = {value} WHERE seq = 2")
    code, report = verify(deployment)
    assert code == 1
    first = report["first_problem"]
    assert first["kind"] == "modified" and first["event_id"] == victim
    assert column in first["message"]


def _event(i: int) -> AuditEvent:
    return AuditEvent(
        "test.outcome",
        Actor("key", "k1", "bearer_key", 1),
        "failure" if i % 3 == 0 else "success",
        "User",
        f"t{i}",
        RequestInfo("192.0.2.7", "ua", f"r{i}"),
    )


def test_the_outcome_filter_reads_the_entry(deployment: Deployment) -> None:
    """Events on both sides of the indexed boundary: the filter finds exactly the
    failures, in order, with their stored fields intact."""
    count = INDEX_BATCH + 10
    with deployment.db.begin() as conn:
        ids = AuditLog(conn).append_many(
            [(_event(i), START + timedelta(seconds=i)) for i in range(count)]
        )
    failures = [ids[i] for i in range(count) if i % 3 == 0]
    with deployment.db.read() as conn:
        reader = AuditReader(conn)
        found, _ = reader.search(AuditQuery(outcome="failure", limit=1000))
        newest, _ = reader.search(AuditQuery(outcome="failure", newest_first=True, limit=1000))
        both, _ = reader.search(AuditQuery(outcome="failure", target="t3"))
    assert [e["id"] for e in found] == failures
    assert [e["id"] for e in newest] == failures[::-1]
    assert [e["target"]["id"] for e in both] == ["t3"]
    first = found[0]
    assert first["actor"]["kind"] == "key" and first["target"]["type"] == "User"
    assert first["request"] == {"source_ip": "192.0.2.7", "user_agent": "ua", "request_id": "r0"}
