"""Issue 5 point 3 (search, indexed) after migration 0019: the tree position is the
primary key and the search indexes live in ``audit_search``, filled a batch at a time.
Search, lookup by id and verification see every event, indexed yet or not; the migration
converts existing events both ways (SQLite and PostgreSQL)."""

from __future__ import annotations

from sqlalchemy import text

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.store import migrate
from ostiary.store.repositories.audit import INDEX_BATCH, AuditLog, AuditQuery, AuditReader
from tests.audit.support import START, append_events, checkpoint
from tests.support.deploy import Deployment, downgrade

COUNT = INDEX_BATCH + 6  # one batch indexed, a tail of six not yet


def _indexed(dep: Deployment) -> tuple[int, int]:
    with dep.db.read() as conn:
        head = conn.execute(text("SELECT indexed FROM audit_head")).scalar_one()
        rows = conn.execute(text("SELECT count(*) FROM audit_search")).scalar_one()
    return int(head), int(rows)


def _searches_see_everything(dep: Deployment, ids: list[str]) -> None:
    with dep.db.read() as conn:
        reader = AuditReader(conn)
        page, cursor = reader.search(AuditQuery(actor="k1AbCdEfGhIj", limit=50))
        rest, end = reader.search(AuditQuery(actor="k1AbCdEfGhIj", after_seq=cursor, limit=1000))
        assert [e["id"] for e in page + rest] == ids and end is None
        # one target in the indexed part, one in the tail
        for n in (3, COUNT - 2):
            hits, _ = reader.search(AuditQuery(target=f"user-{n}"))
            assert [e["id"] for e in hits] == [ids[n]]
        since = START.replace(hour=13)  # events are a minute apart from 12:00
        hits, _ = reader.search(AuditQuery(action="scim.user.*", since=since, limit=1000))
        assert [e["position"] for e in hits] == list(range(60, COUNT))
        assert reader.search(AuditQuery(outcome="failure"))[0] == []
        # newest first (the console): the tail, then the indexed part
        newest, older = reader.search(AuditQuery(newest_first=True, limit=10))
        assert [e["seq"] for e in newest] == list(range(COUNT - 1, COUNT - 11, -1))
        page, _ = reader.search(AuditQuery(newest_first=True, before_seq=older, limit=3))
        assert [e["seq"] for e in page] == [older - 1, older - 2, older - 3]
        for n in (0, INDEX_BATCH, COUNT - 1):
            assert reader.position_of(ids[n]) == n
            assert (reader.get(ids[n]) or {})["seq"] == n
        assert reader.get("no-such-event") is None


def test_search_covers_indexed_events_and_the_tail(deployment: Deployment):
    ids = append_events(deployment, COUNT)
    assert _indexed(deployment) == (INDEX_BATCH, INDEX_BATCH)
    _searches_see_everything(deployment, ids)


def test_migration_0019_converts_existing_events_both_ways(deployment: Deployment):
    ids = append_events(deployment, COUNT)
    checkpoint(deployment)
    downgrade(deployment.db, "0015")
    with deployment.db.read() as conn:
        rows = conn.execute(text("SELECT seq, position, id FROM audit_events ORDER BY seq")).all()
    assert [(r.seq, r.position) for r in rows] == [(n + 1, n) for n in range(COUNT)]
    assert [r.id for r in rows] == ids
    migrate.upgrade(deployment.db)
    assert _indexed(deployment) == (COUNT, COUNT)
    _searches_see_everything(deployment, ids)
    assert deployment.audit_verifies()
    more = append_events(deployment, 2)
    with deployment.db.read() as conn:
        assert AuditReader(conn).position_of(more[-1]) == COUNT + 1
    assert deployment.audit_verifies()


def test_a_batch_past_the_boundary_is_indexed_in_its_transaction(deployment: Deployment):
    """A group commit (append_many) that crosses the boundary indexes every event so far,
    its own included (SQLite and PostgreSQL)."""
    events = [(e, START) for e in _events(INDEX_BATCH + 36)]
    with deployment.db.begin() as conn:
        ids = AuditLog(conn).append_many(events)
    assert _indexed(deployment) == (INDEX_BATCH + 36, INDEX_BATCH + 36)
    with deployment.db.read() as conn:
        assert AuditReader(conn).position_of(ids[-1]) == INDEX_BATCH + 35
    assert deployment.audit_verifies()


def _events(n: int) -> list[AuditEvent]:
    return [AuditEvent(action="test.batch", actor=SYSTEM, target_id=str(i)) for i in range(n)]
