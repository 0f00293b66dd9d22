"""PostgreSQL appends after the head it last committed (issue 5 points 2 and 6; migration
0027; docs/audit.md "Positions"): the entries are placed in Python and inserted by one
statement that moves the ``audit_head`` row only from the hinted head, so a stale hint
(another node or worker appended, the log was pruned, a batch rolled back) writes
nothing and the database function appends instead. Whichever path runs, positions stay
dense, every entry chains to the stored leaf before it and the tree verifies.

To show which path ran, tests rename the function away: an append that still succeeds
did not call it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import text

from ostiary.audit.errors import AuditError
from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.store.db import Database
from ostiary.store.repositories.audit import (
    _HEAD_HINT,
    INDEX_BATCH,
    PG_PLACED,
    AuditLog,
    AuditReader,
)
from tests.audit.support import (
    START,
    append_events,
    checkpoint,
    head_of,
    leaf_at,
    prune_everything,
    verifies,
)
from tests.support.deploy import Deployment

pytestmark = pytest.mark.postgres

_FUNCTION = "ostiary_audit_append(jsonb, integer)"


@contextmanager
def no_function(dep: Deployment) -> Iterator[None]:
    """The append function renamed away: an append that calls it fails."""
    with dep.db.begin() as conn:
        conn.execute(text(f"ALTER FUNCTION {_FUNCTION} RENAME TO ostiary_audit_gone"))
    try:
        yield
    finally:
        with dep.db.begin() as conn:
            conn.execute(text("ALTER FUNCTION ostiary_audit_gone(jsonb, integer) "
                              "RENAME TO ostiary_audit_append"))  # fmt: skip


def _positions(dep: Deployment, ids: list[str]) -> list[int | None]:
    with dep.db.read() as conn:
        reader = AuditReader(conn)
        return [reader.position_of(i) for i in ids]


def _prev(dep: Deployment, event_id: str) -> str:
    with dep.db.read() as conn:
        return str(AuditReader(conn).get(event_id)["prev"])  # type: ignore[index]


def _batch(dep: Deployment, n: int, tag: str) -> list[str]:
    events = [(AuditEvent(action="test.batch", actor=SYSTEM, target_id=f"{tag}{i}"), START)
              for i in range(n)]  # fmt: skip
    with dep.db.begin() as conn:
        return AuditLog(conn).append_many(events)


def test_after_a_committed_append_the_next_ones_do_not_call_the_function(
    pg_deployment: Deployment,
):
    """The first append has no hint (the function appends and returns the head); after
    it commits, a single event and batches up to PG_PLACED go after the hinted head."""
    dep = pg_deployment
    append_events(dep, 1)
    with no_function(dep):
        ids = append_events(dep, 2, START + timedelta(hours=1))
        ids += _batch(dep, 5, "b")
        ids += _batch(dep, PG_PLACED, "full")
    assert _positions(dep, ids) == list(range(1, 8 + PG_PLACED))
    assert _prev(dep, ids[0]) == leaf_at(dep, 0).hex()
    assert head_of(dep) == (8 + PG_PLACED, leaf_at(dep, 7 + PG_PLACED))
    assert verifies(dep)


def test_a_placed_batch_that_completes_a_search_batch_indexes_it(pg_deployment: Deployment):
    dep = pg_deployment
    append_events(dep, INDEX_BATCH - 3)
    with no_function(dep):
        ids = _batch(dep, 5, "m")
    with dep.db.read() as conn:
        head = conn.execute(text("SELECT size, indexed FROM audit_head")).one()
        searched = conn.execute(text("SELECT count(*), max(seq) FROM audit_search")).one()
        found = AuditReader(conn).position_of(ids[1])
    assert tuple(head) == (INDEX_BATCH + 2, INDEX_BATCH + 2)
    assert tuple(searched) == (INDEX_BATCH + 2, INDEX_BATCH + 1)
    assert found == INDEX_BATCH - 2
    assert verifies(dep)


def test_a_batch_over_the_placed_size_goes_through_the_function_and_keeps_the_hint(
    pg_deployment: Deployment,
):
    dep = pg_deployment
    append_events(dep, 1)
    with no_function(dep), pytest.raises(Exception, match="ostiary_audit_append"):
        _batch(dep, PG_PLACED + 1, "big")
    ids = _batch(dep, PG_PLACED + 1, "big")
    with no_function(dep):  # the function's head became the hint
        ids += append_events(dep, 1, START + timedelta(hours=1))
    assert _positions(dep, ids) == list(range(1, PG_PLACED + 3))
    assert verifies(dep)


@pytest.mark.parametrize("wrong", ["behind", "ahead", "another leaf", "indexed", "pruned"])
def test_a_stale_hint_writes_nothing_and_the_events_go_after_the_stored_head(
    pg_deployment: Deployment, wrong: str
):
    """A hint behind the log (another node appended), ahead of it (an append that did not
    commit), at its size with another leaf or indexed prefix, or on a log pruned to its
    end: the function appends after the stored head, chained to its leaf, and its head
    becomes the hint, tried again once an append through the function starts where the
    hint said (nothing came between)."""
    dep = pg_deployment
    append_events(dep, 3)
    size, last = head_of(dep)
    hint = dep.db.engine.__dict__[_HEAD_HINT]
    assert (hint[0][0], bytes(hint[0][1]), hint[0][2]) == (size, last, 0)
    before_last = leaf_at(dep, size - 2)
    if wrong == "pruned":
        assert prune_everything(dep) == (3, 3)
    hint[0] = {
        "behind": (size - 1, before_last, 0),
        "ahead": (size + 1, bytes(32), 0),
        "another leaf": (size, bytes(32), 0),
        "indexed": (size, last, 1),
        "pruned": (1, bytes(32), 0),
    }[wrong]
    ids = _batch(dep, 2, "late")
    assert _positions(dep, ids) == [size, size + 1]
    assert _prev(dep, ids[0]) == last.hex()  # type: ignore[union-attr]
    # Missed: the function appends until one of its appends starts at the size the hint
    # had, which this one did when only the leaf or the indexed prefix was wrong.
    assert hint[1] is (wrong in ("behind", "ahead", "pruned"))
    ids += append_events(dep, 1, START + timedelta(days=31, hours=1))
    assert hint[1] is False
    with no_function(dep):
        ids += append_events(dep, 1, START + timedelta(days=31, hours=2))
    assert _positions(dep, ids) == list(range(size, size + 4))
    assert head_of(dep) == (size + 4, leaf_at(dep, size + 3))
    checkpoint(dep, START + timedelta(days=32))
    assert verifies(dep)


def test_two_nodes_appending_in_turn_keep_the_log_dense_and_chained(
    pg_deployment: Deployment,
):
    """Two engines (two nodes' pools) alternate, so each one's hint is stale at every
    turn: every event still takes the next position after the stored head."""
    dep = pg_deployment
    other = Database(dep.settings.database_url, pool_size=1)
    try:
        second = replace(dep, db=other)
        ids: list[str] = []
        for turn in range(6):
            node = dep if turn % 2 == 0 else second
            ids += _batch(node, 1 + turn % 3, f"t{turn}-")
    finally:
        other.dispose()
    assert _positions(dep, ids) == list(range(len(ids)))
    for position, event_id in enumerate(ids[1:], start=1):
        assert _prev(dep, event_id) == leaf_at(dep, position - 1).hex()
    assert verifies(dep)


def test_an_append_waiting_on_a_hinted_head_that_moves_goes_after_it(
    pg_deployment: Deployment,
):
    """Two transactions of one process append from the same hint: the second waits on the
    head row's lock, finds the row moved when the first commits (READ COMMITTED checks
    the condition against the committed row), writes nothing and appends after it."""
    dep = pg_deployment
    append_events(dep, 1)
    waiting = threading.Event()
    result: list[list[str]] = []

    def second() -> None:
        waiting.set()
        result.append(_batch(dep, 2, "second"))

    with dep.db.begin() as conn:
        first = AuditLog(conn).append_many(
            [(AuditEvent(action="test.first", actor=SYSTEM, target_id="f"), START)]
        )
        thread = threading.Thread(target=second)
        thread.start()
        waiting.wait(5)
        thread.join(0.5)  # it waits on the row lock held here
        assert thread.is_alive()
    thread.join(10)
    assert _positions(dep, first + result[0]) == [1, 2, 3]
    assert _prev(dep, result[0][0]) == leaf_at(dep, 1).hex()
    assert verifies(dep)


def test_a_missing_head_row_is_an_audit_error_with_a_hint_too(pg_deployment: Deployment):
    dep = pg_deployment
    append_events(dep, 2)
    with dep.db.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with pytest.raises(AuditError, match="audit_head row is missing"):
        _batch(dep, 2, "x")
    with dep.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one() == 2
