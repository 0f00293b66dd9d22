"""``AuditLog.append_many`` (docs/audit.md "Positions"): a batch of events takes dense
positions and chains each entry to the one before it, interleaved with single appends,
exactly as one ``append`` per event would; the tree verifies on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import orjson
from sqlalchemy import text

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.audit.merkle import leaf_hash
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.audit_integrity import Integrity
from tests.audit.support import START, checkpoint
from tests.support.deploy import Deployment


def _event(n: int) -> AuditEvent:
    return AuditEvent(action="test.batch", actor=SYSTEM, target_id=str(n), after={"n": n})


def test_batched_appends_chain_like_single_ones(deployment: Deployment):
    at = [START + timedelta(seconds=i) for i in range(9)]
    with deployment.db.begin() as conn:
        log = AuditLog(conn)
        first = [log.append(_event(0), at[0]), log.append(_event(1), at[1])]
        batch = log.append_many([(_event(i), at[i]) for i in range(2, 8)])
        last = log.append(_event(8), at[8])
    assert len(set(batch)) == 6
    with deployment.db.read() as conn:
        rows = conn.execute(
            text("SELECT id, seq AS position, entry, leaf_hash FROM audit_events ORDER BY seq")
        ).all()
    assert [r.id for r in rows] == [*first, *batch, last]
    assert [r.position for r in rows] == list(range(9))
    prev = "0" * 64
    for r in rows:
        entry = orjson.loads(r.entry)
        assert entry["prev"] == prev and entry["position"] == r.position
        assert bytes(r.leaf_hash) == leaf_hash(r.entry.encode())
        prev = bytes(r.leaf_hash).hex()
    assert [orjson.loads(r.entry)["target"]["id"] for r in rows] == [str(i) for i in range(9)]
    checkpoint(deployment)
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    with deployment.db.read() as conn:
        report = Integrity(conn, vault).verify()
    assert report.ok and report.events == 9


def test_a_rolled_back_batch_leaves_no_gap(deployment: Deployment):
    try:
        with deployment.db.begin() as conn:
            AuditLog(conn).append_many([(_event(i), START) for i in range(3)])
            raise RuntimeError("the change failed")
    except RuntimeError:
        pass
    with deployment.db.begin() as conn:
        AuditLog(conn).append_many([(_event(i), START) for i in range(2)])
    with deployment.db.read() as conn:
        positions = list(conn.execute(text("SELECT seq FROM audit_events")).scalars())
    assert sorted(positions) == [0, 1]
