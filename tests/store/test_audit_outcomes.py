"""Issue 5 point 3 (search "fast at 10 million events"): an outcome other than success is
searched through ``audit_outcomes``, which the appender fills with exactly the events
that did not succeed (migration 0030); before, the outcome was read from every entry
the search passed, so a rare failure read the whole log. Both engines, and on
PostgreSQL both append paths (the placed statement, and the function a batch of more
than 32 events takes)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.store import bootstrap, migrate
from ostiary.store.repositories.audit import INDEX_BATCH, AuditLog, AuditQuery, AuditReader
from ostiary.store.repositories.audit_integrity import prune
from tests.audit.support import START, checkpoint, plan_of, statements
from tests.support.deploy import Deployment, downgrade

COUNT = 2 * INDEX_BATCH + 30  # a tail of unindexed events past the batches


def _outcome(i: int) -> str:
    return "failure" if i % 37 == 5 else "denied" if i % 101 == 7 else "success"


def _append(dep: Deployment, chunk: int) -> None:
    for start in range(0, COUNT, chunk):
        events = [
            (AuditEvent(action="t.o", actor=SYSTEM, outcome=_outcome(i), target_id=str(i)),
             START + timedelta(seconds=i))
            for i in range(start, min(start + chunk, COUNT))
        ]  # fmt: skip
        with dep.db.begin() as conn:
            AuditLog(conn).append_many(events)


def _all(dep: Deployment, **filters: object) -> list[int]:
    """Every position the search finds, page by page (oldest first, 20 a page)."""
    found: list[int] = []
    cursor = None
    with dep.db.read() as conn:
        while True:
            q = AuditQuery(after_seq=cursor, limit=20, **filters)  # type: ignore[arg-type]
            hits, cursor = AuditReader(conn).search(q)
            found += [e["seq"] for e in hits]
            if cursor is None:
                return found


def _recorded(dep: Deployment) -> list[tuple[int, str]]:
    with dep.db.read() as conn:
        rows = conn.execute(text("SELECT seq, outcome FROM audit_outcomes ORDER BY seq"))
        return [(int(r[0]), r[1]) for r in rows]


def _not_succeeded(first: int = 0) -> list[tuple[int, str]]:
    return [(i, _outcome(i)) for i in range(first, COUNT) if _outcome(i) != "success"]


@pytest.mark.parametrize("chunk", [1, 7, 40])
def test_an_outcome_finds_exactly_its_events(deployment: Deployment, chunk: int):
    """audit_outcomes holds exactly the events that did not succeed; each outcome, alone,
    with a time bound and newest first, finds exactly its events in the indexed part and
    the tail. Chunks of 1 and 7 take PostgreSQL's placed statement, 40 its function."""
    dep = deployment
    _append(dep, chunk)
    assert _recorded(dep) == _not_succeeded()
    for outcome in ("failure", "denied", "success", "unknown"):
        expected = [i for i in range(COUNT) if _outcome(i) == outcome]
        assert _all(dep, outcome=outcome) == expected, outcome
        since = START + timedelta(seconds=300)
        later = [i for i in expected if i >= 300]
        assert _all(dep, outcome=outcome, since=since) == later, outcome
        with dep.db.read() as conn:
            q = AuditQuery(outcome=outcome, newest_first=True, limit=5)
            hits, _ = AuditReader(conn).search(q)
        assert [e["seq"] for e in hits] == expected[::-1][:5], outcome


def test_a_failure_is_read_from_the_outcome_index(deployment: Deployment):
    """The plan of the reader's own statement for outcome=failure: a range of
    ix_audit_outcomes_outcome, not a walk over the entries."""
    dep = deployment
    _append(dep, 40)

    def search() -> None:
        with dep.db.read() as conn:
            AuditReader(conn).search(AuditQuery(outcome="failure"))

    indexed = statements(dep, "JOIN audit_outcomes", search)
    assert len(indexed) == 1
    plan = plan_of(dep, *indexed[0])
    assert "ix_audit_outcomes_outcome" in plan, plan


def test_prune_removes_the_outcomes_of_the_events_it_removes(deployment: Deployment):
    """Everything before a checkpoint is pruned; the failure appended after it stays,
    and is what a search for failures finds."""
    dep = deployment
    _append(dep, 40)
    checkpoint(dep, START + timedelta(days=1))
    event = AuditEvent(action="t.o", actor=SYSTEM, outcome="failure")
    with dep.db.begin() as conn:
        AuditLog(conn).append(event, START + timedelta(days=2))
    vault = bootstrap.open_vault(dep.settings, dep.db)
    later = START + timedelta(days=30)
    with dep.db.begin() as conn:
        assert prune(conn, vault, later, None, later) == (COUNT, COUNT)
    assert _recorded(dep) == [(COUNT, "failure")]
    assert _all(dep, outcome="failure") == [COUNT]


def test_migration_0030_records_the_outcomes_of_existing_events(deployment: Deployment):
    dep = deployment
    _append(dep, 40)
    downgrade(dep.db, "0029")
    migrate.upgrade(dep.db)
    assert _recorded(dep) == _not_succeeded()
    assert _all(dep, outcome="failure") == [i for i, o in _not_succeeded() if o == "failure"]
