"""Searching the audit log by time at any size: a time bound is a range of positions.

Pages are in tree order (``seq``), but events' times do not follow it exactly: the time
is taken when a request prepares its event, before it queues for the log's head, and
nodes' clocks differ or step back. A time filter alone gave the planner no range to
read: it walked the log filtering the time (an oldest-first ``since`` near the end of
2,000,000 events took 439 ms on PostgreSQL; docs/performance.md, session 19).

So each search batch (the positions ``[first, end)`` it copies to ``audit_search``) adds
a row to ``audit_time_ranges``: ``latest``, the latest time of all events up to ``end``
(it never decreases along ``seq``), and ``lag``, the greatest amount by which a batch's
earliest time lay behind the latest time before that batch, so far. An event in batch
``b`` has a time ``t >= earliest(b) >= latest(b - 1) - lag``. Then:

- ``t >= since`` implies ``latest(b) >= since``: every match lies at or after the start
  of the first batch whose ``latest`` reaches ``since``;
- ``t < until`` implies ``latest(b - 1) < until + lag``: every match lies before the end
  of the first batch whose ``latest`` reaches ``until + lag``.

Each bound is one step into the ``(latest_at, first_seq)`` index, and the page is read
from the positions between them filtering the events' own times, so results are exact
and a bound reads at most a batch of events beyond the matches (more only while the lag
is large: one event from a clock an hour ahead makes later ``until`` bounds an hour
wider). The row costs the batch one aggregate over its rows and one small insert; a
running maximum per event (a window function in the batch) cost SQLite ~1.5 us an event.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from ostiary.store.tables_audit import audit_time_ranges

_SEARCHED = "seq, id, occurred_at, action, actor_id, target_id"
# The batch is the rows from the old ``indexed`` up to the new size: both bounds, because
# with only the lower one PostgreSQL plans a full scan of audit_events until the table
# has been analysed (2.1 ms per batch measured; docs/performance.md, auditplan).
_ROWS = "FROM audit_events WHERE seq < {upper} AND seq >= {lower}"
_COPY = f"INSERT INTO audit_search ({_SEARCHED}) SELECT {_SEARCHED} {_ROWS}"
# The row starts where the last one ended, not at the batch: a batch indexed without a
# row (by a node still running the code before migration 0029, during a rolling upgrade)
# is then covered by the next one instead of leaving a gap a bound could skip.
_LAST = "FROM audit_time_ranges ORDER BY first_seq DESC LIMIT 1"
_RANGE = (
    "INSERT INTO audit_time_ranges (first_seq, end_seq, latest_at, lag_us) "  # noqa: S608
    "SELECT coalesce(p.end_seq, {lower}), {upper}, {latest}, {lag} FROM "
    "(SELECT max(occurred_at) AS hi, min(occurred_at) AS lo FROM audit_events "
    f"WHERE seq < {{upper}} AND seq >= coalesce((SELECT end_seq {_LAST}), {{lower}})) b "
    f"LEFT JOIN (SELECT end_seq, latest_at, lag_us {_LAST}) p ON 1 = 1"
)

# SQLite (parameters: new size, old indexed). Its column text ("YYYY-MM-DD
# HH:MM:SS.ffffff") sorts as time does; a difference is whole seconds by strftime of the
# text up to the second (strftime rounds a fraction) and the fraction from the text
# (julianday keeps milliseconds only).
SQLITE_COPY = _COPY.format(upper="?1", lower="?2")
_SQLITE_BEHIND = (
    "(strftime('%s', substr(p.latest_at, 1, 19)) - strftime('%s', substr(b.lo, 1, 19))) "
    "* 1000000 + substr(p.latest_at, 21) - substr(b.lo, 21)"
)
SQLITE_RANGE = _RANGE.format(
    upper="?1",
    lower="?2",
    latest="CASE WHEN p.latest_at > b.hi THEN p.latest_at ELSE b.hi END",
    lag=f"CASE WHEN p.latest_at > b.lo THEN max(p.lag_us, {_SQLITE_BEHIND}) "
    "ELSE coalesce(p.lag_us, 0) END",
)


def pg_batch(upper: str, lower: str) -> str:
    """PostgreSQL: one statement copying the batch [lower, upper) to ``audit_search`` and
    adding its time range (``upper``, ``lower``: SQL expressions, parameters or PL/pgSQL
    variables)."""
    behind = "ceil(extract(epoch FROM p.latest_at - b.lo) * 1000000)::bigint"
    copy = _COPY.format(upper=upper, lower=lower)
    latest = "greatest(p.latest_at, b.hi)"
    lag = f"greatest(p.lag_us, {behind}, 0)"
    return f"WITH copied AS ({copy}) " + _RANGE.format(
        upper=upper, lower=lower, latest=latest, lag=lag
    )


PG_BATCH = pg_batch("$1", "$2")


def positions(
    conn: Connection, since: datetime | None, until: datetime | None, boundary: int
) -> tuple[int, int]:
    """The positions [low, high) below ``boundary`` (the indexed prefix) that can hold an
    event of time in [since, until); none when low >= high."""
    low, high = 0, boundary
    if since is not None:
        found = _first_reaching(conn, since)
        low = boundary if found is None else found[0]
    if until is not None and low < high:
        try:
            edge = until + timedelta(microseconds=_lag_us(conn))
        except OverflowError:  # past datetime.max: no stored time reaches it
            return low, high
        found = _first_reaching(conn, edge)
        if found is not None:
            high = min(high, found[1])
    return low, high


def _first_reaching(conn: Connection, at: datetime) -> tuple[int, int] | None:
    """The positions of the first batch whose latest time is at or after ``at``."""
    r = audit_time_ranges
    stmt = select(r.c.first_seq, r.c.end_seq).where(r.c.latest_at >= at)
    row = conn.execute(stmt.order_by(r.c.latest_at, r.c.first_seq).limit(1)).first()
    return None if row is None else (int(row.first_seq), int(row.end_seq))


def _lag_us(conn: Connection) -> int:
    r = audit_time_ranges
    stmt = select(r.c.lag_us).order_by(r.c.first_seq.desc()).limit(1)
    return int(conn.execute(stmt).scalar() or 0)
