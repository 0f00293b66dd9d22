"""Issue 5 points 2 and 6: the log's head (tree size and last leaf hash) is exact on both
engines, while SQLite's appender writes the ``audit_head`` row only once a search batch
(docs/audit.md "Positions"): between batches the newest event row is the head, and a
prune that deletes every event leaves the head in the row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.audit import _HEAD_HINT, INDEX_BATCH, AuditLog, AuditReader
from ostiary.store.repositories.audit_integrity import Integrity
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


def _row(dep: Deployment) -> tuple[int, bytes | None]:
    with dep.db.read() as conn:
        size, last = conn.execute(text("SELECT size, last_leaf FROM audit_head")).one()
    return int(size), bytes(last) if last else None


def test_the_head_is_exact_while_sqlites_head_row_moves_once_a_batch(deployment: Deployment):
    dep = deployment
    assert head_of(dep) == (0, None)
    append_events(dep, 3)
    assert head_of(dep) == (3, leaf_at(dep, 2))
    pg = dep.settings.database_url.startswith("postgresql")
    # PostgreSQL's appenders queue on the row's lock, so it moves with every event.
    assert _row(dep) == ((3, leaf_at(dep, 2)) if pg else (0, None))
    append_events(dep, INDEX_BATCH - 3, START + timedelta(hours=1))
    assert _row(dep) == head_of(dep) == (INDEX_BATCH, leaf_at(dep, INDEX_BATCH - 1))
    append_events(dep, 1, START + timedelta(hours=2))
    assert head_of(dep) == (INDEX_BATCH + 1, leaf_at(dep, INDEX_BATCH))
    assert _row(dep)[0] == (INDEX_BATCH + 1 if pg else INDEX_BATCH)
    assert verifies(dep)


def test_a_log_pruned_to_its_end_keeps_its_head_and_goes_on(deployment: Deployment):
    dep = deployment
    append_events(dep, 5)
    last = leaf_at(dep, 4)
    assert prune_everything(dep) == (5, 5)
    assert head_of(dep) == _row(dep) == (5, last)
    more = append_events(dep, 2, START + timedelta(days=31))
    with dep.db.read() as conn:
        reader = AuditReader(conn)
        assert [reader.position_of(i) for i in more] == [5, 6]
        assert reader.get(more[0])["prev"] == last.hex()  # type: ignore[index]
    assert head_of(dep) == (7, leaf_at(dep, 6))
    checkpoint(dep, START + timedelta(days=32))
    assert verifies(dep)


def test_verify_names_a_tail_deleted_below_the_head_row(deployment: Deployment):
    """The head row still records a size: deleting events it covers is named even with no
    checkpoint over them."""
    dep = deployment
    append_events(dep, INDEX_BATCH + 2)
    with dep.db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        conn.execute(text(f"DELETE FROM audit_events WHERE seq >= {INDEX_BATCH - 4}"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
    vault = bootstrap.open_vault(dep.settings, dep.db)
    with dep.db.read() as conn:
        report = Integrity(conn, vault).verify()
    assert not report.ok
    assert report.problems[0].kind == "truncated"
    assert report.problems[0].position == INDEX_BATCH - 4


def _statements(dep: Deployment, work: Callable[[], Any]) -> list[str]:
    """The SQL statements SQLite ran for ``work``, on every connection of the pool."""
    seen: list[str] = []

    def trace(conn: Any, _record: Any) -> None:
        conn.set_trace_callback(seen.append)

    dep.db.engine.pool.dispose()  # new connections, each with the trace set
    event.listen(dep.db.engine, "connect", trace)
    try:
        work()
    finally:
        event.remove(dep.db.engine, "connect", trace)
        dep.db.engine.pool.dispose()
    return seen


def test_sqlite_appends_after_its_committed_head_without_reading_it(
    sqlite_deployment: Deployment,
):
    """After a committed append, the next one is a lone INSERT: no head read, no head row
    written (issue 5 point 6)."""
    dep = sqlite_deployment
    append_events(dep, 1)  # reads the head once: this engine has no hint yet
    seen = _statements(dep, lambda: append_events(dep, 2, START + timedelta(hours=1)))
    audit = [s for s in seen if "audit_" in s]
    # (SQLite's trace may report a statement more than once: it is the kinds that count)
    assert {s[: s.index(" (")] for s in audit} == {"INSERT INTO audit_events"}
    assert head_of(dep) == (3, leaf_at(dep, 2)) and verifies(dep)


@pytest.mark.parametrize("stale", [False, True])
def test_sqlite_places_a_batch_after_its_hint_or_the_stored_head(
    sqlite_deployment: Deployment, stale: bool
):
    """A batch (a group commit's creates) after this engine's committed head: one
    checked INSERT for its first event, the others after it in the same statements; with
    the hint stale (another process appended meanwhile) nothing of the batch is written
    until the head is read, and the batch goes after the stored head. Either way the
    batch takes the next positions, chained, and the tree verifies."""
    dep = sqlite_deployment
    append_events(dep, 3)
    if stale:
        other = Database(dep.settings.database_url, pool_size=1)
        try:
            append_events(replace(dep, db=other), 1, START + timedelta(hours=1))
        finally:
            other.dispose()
    size, last = head_of(dep)
    events = [
        (AuditEvent(action="test.batch", actor=SYSTEM, target_id=f"b{i}"), START) for i in range(4)
    ]
    with dep.db.begin() as conn:
        ids = AuditLog(conn).append_many(events)
    with dep.db.read() as conn:
        reader = AuditReader(conn)
        assert [reader.position_of(i) for i in ids] == list(range(size, size + 4))
        placed = [reader.get(i) for i in ids]
    assert placed[0]["prev"] == last.hex()  # type: ignore[index,union-attr]
    for before, after in zip(ids, placed[1:], strict=False):
        assert after["prev"] == leaf_at(dep, size + ids.index(before)).hex()  # type: ignore[index]
    assert head_of(dep)[0] == size + 4
    checkpoint(dep, START + timedelta(days=1))
    assert verifies(dep)


@pytest.mark.parametrize("wrong", ["behind", "ahead", "another leaf", "pruned"])
def test_sqlite_places_events_after_the_stored_head_whatever_the_hint_says(
    sqlite_deployment: Deployment, wrong: str
):
    """The hint is checked inside the INSERT: a hint behind the log (another process
    appended), ahead of it (an append that did not commit), at its size with another
    last leaf, or on a log pruned to its end writes nothing, and the events go after the
    stored head, chained to its leaf."""
    dep = sqlite_deployment
    append_events(dep, 3)
    size, last = head_of(dep)
    hint = dep.db.engine.__dict__[_HEAD_HINT]
    assert hint[0][:2] == (size, last)  # the committed append's head
    before_last = bytearray(leaf_at(dep, size - 2))
    if wrong == "pruned":
        assert prune_everything(dep) == (3, 3)
    hint[0] = {
        "behind": (size - 1, before_last, hint[0][2]),
        "ahead": (size + 1, bytearray(32), hint[0][2]),
        "another leaf": (size, bytearray(32), hint[0][2]),
        "pruned": (1, bytearray(32), hint[0][2]),
    }[wrong]
    ids = append_events(dep, 2, START + timedelta(days=31))
    with dep.db.read() as conn:
        reader = AuditReader(conn)
        assert [reader.position_of(i) for i in ids] == [size, size + 1]
        assert reader.get(ids[0])["prev"] == last.hex()  # type: ignore[index,union-attr]
    assert head_of(dep)[0] == size + 2
    checkpoint(dep, START + timedelta(days=32))
    assert verifies(dep)


def test_a_stale_hint_after_another_writer_and_a_prune_lands_at_the_head(
    deployment: Deployment,
):
    """One process appends; another appends, checkpoints and prunes past the first one's
    hint (every event it had seen is gone); the first one's next event still takes the
    next position, chained to the true last leaf, and the log verifies."""
    dep = deployment
    append_events(dep, 2)
    other = Database(dep.settings.database_url, pool_size=1)
    try:
        more = replace(dep, db=other)
        append_events(more, 3, START + timedelta(hours=1))
        assert prune_everything(dep, other) == (5, 5)
        last = _leaf_of_pruned(dep)
    finally:
        other.dispose()
    ids = append_events(dep, 2, START + timedelta(days=31))
    with dep.db.read() as conn:
        reader = AuditReader(conn)
        assert [reader.position_of(i) for i in ids] == [5, 6]
        assert reader.get(ids[0])["prev"] == last.hex()  # type: ignore[index]
    checkpoint(dep, START + timedelta(days=32))
    assert verifies(dep)


def _leaf_of_pruned(dep: Deployment) -> bytes:
    with dep.db.read() as conn:
        return bytes(conn.execute(text("SELECT last_leaf FROM audit_anchor")).scalar_one())
