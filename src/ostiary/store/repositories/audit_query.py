"""Searching the audit log: a page of events by actor, target, action, outcome and time.

Each filter reads a range of an index that ends in ``seq`` (``audit_search``'s actor,
target and action indexes, ``audit_outcomes`` for an outcome other than success) and a
time bound is a range of positions (``audit_time``), so a page costs O(limit) at any
size of the log. The events not indexed yet (fewer than INDEX_BATCH, all newer than
the indexed ones) are scanned by ``seq``, after or before them. See docs/audit.md, Query.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, cast, func, select
from sqlalchemy.dialects.postgresql import JSONB

from ostiary.store.repositories.audit_time import positions
from ostiary.store.tables_audit import audit_events as ae
from ostiary.store.tables_audit import audit_outcomes, audit_search

MAX_PAGE = 1000
SUCCESS = "success"


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    target: str | None = None
    action: str | None = None  # exact, or a prefix ending in '*' ("scim.user.*")
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None  # the keyset cursor (oldest first)
    limit: int = 100
    newest_first: bool = False  # the console's order; its cursor is before_seq
    before_seq: int | None = None


def search(conn: Connection, q: AuditQuery, boundary: int) -> tuple[list[Any], int | None]:
    """Rows ``(seq, entry)`` of a page in seq order (or newest first) and the cursor for
    the next page (or None); ``boundary``: where the unindexed tail starts, read before."""
    limit = max(1, min(q.limit, MAX_PAGE))
    low, high = positions(conn, q.since, q.until, boundary)
    first, end = _cursor_range(q)
    pg = conn.dialect.name == "postgresql"
    if pg:  # a page is small: starting parallel workers took ~8 ms, 4 times the page
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    parts = [_tail(q, pg, max(boundary, first), end)]
    low, high = max(low, first), high if end is None else min(high, end)
    if low < high:
        parts.insert(0, _indexed(q, pg, low, high))
    rows: list[Any] = []
    for part in reversed(parts) if q.newest_first else parts:
        if len(rows) <= limit:
            rows += conn.execute(part.limit(limit + 1 - len(rows))).all()
    cursor = rows[limit - 1].seq if len(rows) > limit else None
    return rows[:limit], cursor


def _cursor_range(q: AuditQuery) -> tuple[int, int | None]:
    """The positions [first, end) the page's cursor leaves (end None: no upper bound)."""
    first = 0 if q.after_seq is None else q.after_seq + 1
    return first, q.before_seq


def _indexed(q: AuditQuery, pg: bool, low: int, high: int) -> Select[Any]:
    """The indexed events at positions [low, high). The range is put on every table of
    the join: PostgreSQL derives no range across an equality, and would walk the table
    the range is missing from (audit_events filtering the time, session 20)."""
    s = audit_search
    stmt = select(ae.c.seq, ae.c.entry).select_from(s.join(ae, ae.c.seq == s.c.seq))
    keys = [s.c.seq, ae.c.seq]
    in_entry = bool(q.outcome) and q.outcome == SUCCESS
    if q.outcome and not in_entry:
        o = audit_outcomes
        stmt = stmt.join(o, o.c.seq == s.c.seq).where(o.c.outcome == q.outcome)
        keys.append(o.c.seq)
    stmt = stmt.where(*(key < high for key in keys))
    if low:
        stmt = stmt.where(*(key >= low for key in keys))
    return _filtered(stmt, s, q, pg, outcome=in_entry)


def _tail(q: AuditQuery, pg: bool, first: int, end: int | None) -> Select[Any]:
    stmt = select(ae.c.seq, ae.c.entry).where(ae.c.seq >= first)
    if end is not None:
        stmt = stmt.where(ae.c.seq < end)
    return _filtered(stmt, ae, q, pg, outcome=bool(q.outcome))


def _filtered(stmt: Select[Any], t: Any, q: AuditQuery, pg: bool, outcome: bool) -> Select[Any]:
    """``stmt`` narrowed by the query's filters on table ``t`` (audit_search, or
    audit_events for the tail) and ordered; ``outcome``: filter it on the entry."""
    if q.actor:
        stmt = stmt.where(t.c.actor_id == q.actor)
    if q.target:
        stmt = stmt.where(t.c.target_id == q.target)
    if q.action:
        stmt = stmt.where(*_action_is(t.c.action, q.action, pg))
    if outcome:
        stmt = stmt.where(_outcome(pg) == q.outcome)
    if q.since:
        stmt = stmt.where(t.c.occurred_at >= q.since)
    if q.until:
        stmt = stmt.where(t.c.occurred_at < q.until)
    return stmt.order_by(t.c.seq.desc() if q.newest_first else t.c.seq)


def _outcome(pg: bool) -> ColumnElement[Any]:
    """The outcome an event's entry records. Since migration 0024 no column repeats it (a
    column cost every append ~1,250 instructions); the tail and a search for successes
    (most events: a page finds them at once) read it; any other outcome is searched in
    ``audit_outcomes``, which holds only those (migration 0030)."""
    if pg:
        outcome: ColumnElement[Any] = cast(ae.c.entry, JSONB)["outcome"].astext
        return outcome
    return func.json_extract(ae.c.entry, "$.outcome")


def _action_is(column: Any, action: str, pg: bool) -> list[ColumnElement[bool]]:
    """``action`` exactly, or, ending in '*', every action with the prefix before it. A
    prefix is the range [prefix, the first string after all that start with it) in code
    point order, which the ``(action, seq)`` index serves as a range scan: LIKE 'x%'
    cannot use a B-tree under SQLite's default case-insensitive LIKE nor under a
    PostgreSQL collation other than "C", so it read every event (docs/audit.md, Query).
    On PostgreSQL the comparison is made in the "C" collation, the one migration 0028
    gives ``audit_search.action`` and its index; SQLite compares bytes (BINARY)."""
    if pg:
        column = column.collate("C")
    if not action.endswith("*"):
        return [column == action]
    prefix = action[:-1]
    upper = after_prefix(prefix)
    bounds = [column >= prefix] if prefix else []
    return bounds if upper is None else [*bounds, column < upper]


def after_prefix(prefix: str) -> str | None:
    """The least string greater than every string starting with ``prefix`` (code point
    order), or None when there is none (empty, or only U+10FFFF)."""
    while prefix and prefix[-1] == "\U0010ffff":
        prefix = prefix[:-1]
    if not prefix:
        return None
    last = ord(prefix[-1]) + 1
    if 0xD800 <= last <= 0xDFFF:  # surrogates are not text (UTF-8 cannot hold them)
        last = 0xE000
    return prefix[:-1] + chr(last)
