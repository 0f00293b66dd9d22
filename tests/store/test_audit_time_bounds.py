"""Issue 5 point 3 (search "fast at 10 million events"): ``since`` and ``until`` are
ranges of positions, and results stay exact when events' times do not follow their
positions (a node whose clock is behind, a clock that jumped ahead). Each search batch
records its positions, the latest time so far and the greatest lag so far in
``audit_time_ranges`` (migration 0029, store.repositories.audit_time); before, an
oldest-first ``since`` walked the log. Both engines, and on PostgreSQL both append paths
(the placed statement and the ``ostiary_audit_append`` function, which a batch of more
than 32 events takes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.store import migrate
from ostiary.store.repositories.audit import INDEX_BATCH, AuditLog, AuditQuery, AuditReader
from tests.audit.support import START, plan_of, statements
from tests.support.deploy import Deployment, downgrade

COUNT = 3 * INDEX_BATCH + 20  # three batches indexed, a tail of 20
JUMP = 300  # the position whose clock ran 300 s ahead


def _times() -> list[datetime]:
    """A second apart with odd microseconds; every fifth event from a node 90 s behind;
    one event 300 s ahead (the maximum then stays flat for 300 events: ties); one event
    the same time as the one before it."""
    times = []
    for i in range(COUNT):
        at = START + timedelta(seconds=i, microseconds=(i * 370_037) % 1_000_000)
        if i % 5 == 4:
            at -= timedelta(seconds=90)
        if i == JUMP:
            at += timedelta(seconds=300)
        times.append(at)
    times[JUMP + 2] = times[JUMP + 1]
    return times


TIMES = _times()


def _ranges(cuts: list[int]) -> list[tuple[int, int, datetime, int]]:
    """The rows audit_time_ranges should hold for batches ending at ``cuts``: positions,
    the latest time up to the end, and the greatest lag so far (how far a batch's
    earliest time lay behind the latest time before it), in microseconds."""
    rows: list[tuple[int, int, datetime, int]] = []
    first, latest, lag = 0, None, 0
    for end in cuts:
        batch = TIMES[first:end]
        if latest is not None:
            lag = max(lag, (latest - min(batch)) // timedelta(microseconds=1))
        latest = max(batch) if latest is None else max(latest, *batch)
        rows.append((first, end, latest, lag))
        first = end
    return rows


def _append(dep: Deployment, chunk: int, stop: int = COUNT) -> None:
    """Events [0, stop) in appends of ``chunk``, continuing after what is there."""
    with dep.db.read() as conn:
        begin = AuditReader(conn).head()[0]
    for start in range(begin, stop, chunk):
        events = [
            (AuditEvent(action="test.time", actor=SYSTEM, target_id=str(i)), TIMES[i])
            for i in range(start, min(start + chunk, stop))
        ]
        with dep.db.begin() as conn:
            AuditLog(conn).append_many(events)


def _cuts(chunk: int) -> list[int]:
    """Where the search batches end after ``_append``: a batch completes with the first
    append that leaves INDEX_BATCH or more events unindexed."""
    cuts = [0]
    for end in range(chunk, COUNT + chunk, chunk):
        if min(end, COUNT) - cuts[-1] >= INDEX_BATCH:
            cuts.append(min(end, COUNT))
    return cuts[1:]


def _all(dep: Deployment, q: AuditQuery) -> list[int]:
    """Every position the search finds, page by page (100 a page)."""
    found: list[int] = []
    cursor = None
    with dep.db.read() as conn:
        reader = AuditReader(conn)
        while True:
            if q.newest_first:
                page = AuditQuery(since=q.since, until=q.until, newest_first=True,
                                  before_seq=cursor, limit=100)  # fmt: skip
            else:
                page = AuditQuery(since=q.since, until=q.until, after_seq=cursor, limit=100)
            hits, cursor = reader.search(page)
            found += [e["seq"] for e in hits]
            if cursor is None:
                return found


def _expected(since: datetime | None, until: datetime | None, newest: bool) -> list[int]:
    hits = [
        i
        for i, at in enumerate(TIMES)
        if (since is None or at >= since) and (until is None or at < until)
    ]
    return hits[::-1] if newest else hits


def _bounds() -> list[datetime | None]:
    us = timedelta(microseconds=1)
    picks = [4, JUMP, JUMP + 2, 2 * INDEX_BATCH + 3, COUNT - 3]
    out: list[datetime | None] = [None, START - timedelta(days=1), START + timedelta(days=1)]
    for i in picks:
        out += [TIMES[i] - us, TIMES[i], TIMES[i] + us]
    return out


def _searches_are_exact(dep: Deployment) -> None:
    bounds = _bounds()
    for since in bounds:
        for until in bounds:
            for newest in (False, True):
                q = AuditQuery(since=since, until=until, newest_first=newest)
                assert _all(dep, q) == _expected(since, until, newest), (since, until, newest)


def _stored_ranges(dep: Deployment) -> list[tuple[int, int, datetime, int]]:
    with dep.db.read() as conn:
        sql = "SELECT first_seq, end_seq, latest_at, lag_us FROM audit_time_ranges"
        rows = conn.execute(text(sql + " ORDER BY first_seq")).all()
    return [(r[0], r[1], _aware(r[2]), r[3]) for r in rows]


def _aware(value: Any) -> datetime:
    if isinstance(value, str):  # SQLite's column text
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@pytest.mark.parametrize("chunk", [7, 40])
def test_time_bounds_are_exact_with_clocks_out_of_order(deployment: Deployment, chunk: int):
    """Every (since, until) pair around the events whose time goes back or jumps ahead,
    oldest and newest first, page by page: exactly the events whose own time is in
    [since, until), in the indexed part and in the tail. Chunks of 7 take PostgreSQL's
    placed statement after the first, chunks of 40 its function."""
    _append(deployment, chunk)
    cuts = _cuts(chunk)
    assert COUNT - INDEX_BATCH < cuts[-1] < COUNT  # a tail is left
    assert _stored_ranges(deployment) == _ranges(cuts)
    assert _ranges(cuts)[-1][3] > 0  # times went back across batches
    _searches_are_exact(deployment)


def test_a_batch_indexed_without_a_range_is_covered_by_the_next(deployment: Deployment):
    """A node still on the code before migration 0029 (a rolling upgrade) indexes a batch
    without adding its range row: the next row starts where the last one ended, so no
    positions are left out of every range and the bounds stay exact."""
    dep = deployment
    _append(dep, 40, stop=2 * INDEX_BATCH + 20)
    cuts = _cuts(40)
    with dep.db.begin() as conn:  # the second batch's row, as an old node leaves it
        conn.execute(text("DELETE FROM audit_time_ranges WHERE end_seq = :e"), {"e": cuts[1]})
    _append(dep, 40)
    stored = _stored_ranges(dep)
    ends = [row[1] for row in stored]
    assert ends[0] == cuts[0] and cuts[1] not in ends  # [cuts[0], ends[1]) covers the gap
    assert stored == _ranges(ends)
    _searches_are_exact(dep)


def test_the_lag_counts_microseconds_across_a_second(deployment: Deployment):
    """A batch whose earliest event lies 200 us behind the batch before it, across a
    whole second: the lag is 200, and an ``until`` between the two finds the event."""
    first = START + timedelta(seconds=1, microseconds=100)
    behind = START + timedelta(microseconds=999_900)
    for at, action in ((first, "a"), (behind, "b")):
        events = [(AuditEvent(action=action, actor=SYSTEM), at)] * INDEX_BATCH
        with deployment.db.begin() as conn:
            AuditLog(conn).append_many(events)
    assert [r[3] for r in _stored_ranges(deployment)] == [0, 200]
    with deployment.db.read() as conn:
        hits, _ = AuditReader(conn).search(AuditQuery(until=first, limit=1000))
    assert {e["action"] for e in hits} == {"b"} and len(hits) == INDEX_BATCH


def test_an_until_past_the_last_date_is_no_bound(deployment: Deployment):
    _append(deployment, 40)
    last = datetime.max.replace(tzinfo=UTC)
    assert _all(deployment, AuditQuery(until=last)) == list(range(COUNT))


def test_a_time_window_reads_a_range_of_positions(deployment: Deployment):
    """The plan of the reader's own statement for [since, until): audit_search read by a
    seq range, not walked filtering the time (the planner cannot know time follows seq)."""
    dep = deployment
    _append(dep, 40)
    q = AuditQuery(since=TIMES[2 * INDEX_BATCH], until=TIMES[2 * INDEX_BATCH + 60])

    def search() -> None:
        with dep.db.read() as conn:
            AuditReader(conn).search(q)

    (statement, parameters), = statements(dep, "JOIN audit_events", search)  # fmt: skip
    plan = plan_of(dep, statement, parameters)
    pg = dep.settings.database_url.startswith("postgresql")
    if pg:  # both tables read by a seq range, neither walked
        lines = [line.strip() for line in plan.splitlines()]
        scans = [n for n, line in enumerate(lines) if " on audit_" in line]
        assert len(scans) == 2 and "Seq Scan" not in plan, plan
        for n in scans:
            assert lines[n + 1].startswith("Index Cond:"), plan
            assert "(seq >= '" in lines[n + 1] and "(seq < '" in lines[n + 1], plan
    else:
        assert "USING INTEGER PRIMARY KEY (rowid>? AND rowid<?)" in plan, plan


def test_migration_0029_records_the_ranges_of_existing_events(deployment: Deployment):
    """Events indexed before 0029 get one range row per 256 positions, with the latest
    time and lag computed from them; later batches continue after them; searches are
    exact. Down to 0028 and up again."""
    dep = deployment
    _append(dep, 40)
    downgrade(dep.db, "0028")
    migrate.upgrade(dep.db)
    indexed = _cuts(40)[-1]
    cuts = [*range(INDEX_BATCH, indexed, INDEX_BATCH), indexed]
    assert _stored_ranges(dep) == _ranges(cuts)
    _searches_are_exact(dep)
    assert dep.audit_verifies()
