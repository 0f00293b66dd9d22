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
from ostiary.store.tables_audit import audit_events
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


# Text a JSON transport could alter: quotes, backslashes, an escaped control character,
# non-ASCII in and beyond the BMP, and U+2028, which some encoders escape.
AWKWARD = 'Zoë "Q" \\ back\\slash \n tab\t \u2028 \U0001f600 \\u00e9'


def test_a_batch_stores_each_entry_exactly_as_hashed(deployment: Deployment):
    """RFC 9162 section 2.1.1: a leaf is H(0x00 || entry), so the stored entry must be the
    hashed bytes, whatever a batch's transport to the database does with them (on
    PostgreSQL a batch travels as one JSON parameter). The searchable columns keep the
    event's time to the microsecond and a missing target as NULL."""
    at = [START + timedelta(seconds=i, microseconds=123457 * i % 1_000_000) for i in range(4)]
    events = [
        AuditEvent(
            action="test.awkward",
            actor=SYSTEM,
            target_id=None if i == 2 else f"{AWKWARD} {i}",
            after={"name": AWKWARD, "n": i},
            detail={"why": AWKWARD},
        )
        for i in range(4)
    ]
    with deployment.db.begin() as conn:
        ids = AuditLog(conn).append_many(list(zip(events, at, strict=True)))
    ae = audit_events.c
    with deployment.db.read() as conn:
        rows = conn.execute(audit_events.select().order_by(ae.seq)).all()
    assert [r.id for r in rows] == ids
    prev = "0" * 64
    for i, r in enumerate(rows):
        assert bytes(r.leaf_hash) == leaf_hash(r.entry.encode())
        entry = orjson.loads(r.entry)
        assert entry["prev"] == prev and entry["after"]["name"] == AWKWARD
        assert entry["detail"]["why"] == AWKWARD
        assert r.target_id == (None if i == 2 else f"{AWKWARD} {i}")
        assert r.occurred_at == at[i] and r.action == "test.awkward"
        prev = bytes(r.leaf_hash).hex()
    checkpoint(deployment)
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    with deployment.db.read() as conn:
        report = Integrity(conn, vault).verify()
    assert report.ok and report.events == 4
