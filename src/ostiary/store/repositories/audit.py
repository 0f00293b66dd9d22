"""Appending audit events inside the caller's transaction, and reading them back.

``append`` takes the next tree position and the previous leaf hash from the log's head
under the log's write lock and inserts the event chained to its predecessor. On
PostgreSQL the head is the single ``audit_head`` row, read ``FOR UPDATE``; on SQLite the
database write lock that ``BEGIN IMMEDIATE`` already holds serialises writers, the head
is the newest event row, and the head this engine last committed is tried first, checked
inside the INSERT. The lock is held until the caller commits, so positions are dense and
become visible in order; see docs/audit.md.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from psycopg import RawCursor
from sqlalchemy import Connection, select

from ostiary.audit.entries import (
    EventFields,
    canonical,
    document_of,
    event_document,
    fields_of,
    halves,
    place,
    utc_times,
)
from ostiary.audit.errors import AuditError
from ostiary.audit.events import AuditEvent
from ostiary.audit.merkle import leaf_hash
from ostiary.audit.verify import ROW_COLUMNS
from ostiary.core.clock import as_utc
from ostiary.core.ids import new_event_id
from ostiary.store.db import when_committed
from ostiary.store.repositories.audit_query import SUCCESS, AuditQuery, search
from ostiary.store.repositories.audit_time import PG_BATCH, SQLITE_COPY, SQLITE_RANGE
from ostiary.store.tables_audit import audit_events as ae
from ostiary.store.tables_audit import audit_head, audit_search

__all__ = [
    "AuditLog",
    "AuditQuery",
    "AuditReader",
    "Prepared",
    "append_prepared",
    "canonical",
    "event_document",
    "leaf_hash",
    "prepare",
    "prepare_event",
]

# Every stored column, in the verifier's order (its "position" is the seq column).
_COLUMNS = ("seq", *ROW_COLUMNS[2:])
_INSERT = f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) VALUES "  # noqa: S608
# The search indexes are filled a batch at a time: every INDEX_BATCH events (a page write
# per index per batch instead of per event), by the append that completes the batch.
# 256, not 64 (session 13): the batch cost ~28,000 instructions an event at 64 and
# ~21,400 at 256 (its statement and the index pages that only grow at their right edge
# are paid once a batch); readers scan at most 255 unindexed rows.
INDEX_BATCH = 256
# The batch's statements (its copy to audit_search and its row of audit_time_ranges) are
# in store.repositories.audit_time.


def _values(mark: str) -> str:
    return f"({', '.join(mark for _ in _COLUMNS)})"


# The append runs inside every audited write, so it talks to the driver directly with
# statements built once (the driver keeps them prepared): through SQLAlchemy's statement
# machinery the statements cost more than the database work.
#
# SQLite: writers are serialised by BEGIN IMMEDIATE, so no row needs locking, and the
# ``audit_head`` row is written only when a search batch completes (every INDEX_BATCH
# events, with ``indexed``): between batches it lags, and the head is the newest event
# row (``seq`` is the rowid: ``max(seq)`` is one step to the b-tree's last cell). Moving
# the row on every append cost an UPDATE and a WAL frame per transaction. ``h.size``
# wins when no event row lies at or past it (an empty log, one pruned to its end, or a
# tail deleted behind the row's back: the next event then leaves the gap verify names).
_SQLITE_HEAD = (
    "SELECT CASE WHEN e.seq >= h.size THEN e.seq + 1 ELSE h.size END, "
    "CASE WHEN e.seq >= h.size THEN e.leaf_hash ELSE h.last_leaf END, h.indexed "
    "FROM audit_head h LEFT JOIN audit_events e ON e.seq = (SELECT max(seq) FROM audit_events) "
    "WHERE h.id = 1"
)
_SQLITE = (
    _INSERT + _values("?"),
    "UPDATE audit_head SET size = ?, last_leaf = ?, indexed = ? WHERE id = 1",
    SQLITE_COPY,
    SQLITE_RANGE,
)
# SQLite, after a hinted head (``_HEAD_HINT``): the same INSERT, but its entry is NULL (so
# the NOT NULL constraint refuses the row, and nothing is written) unless the row before
# it is the newest event row and has the hinted leaf hash. The check is two look-ups by
# rowid inside the statement; a trigger doing the same cost ~15,000 instructions an
# event and reading the head ~20,000 (docs/performance.md, session 13). Parameters: the
# row's eight columns, then the predecessor's position and leaf hash.
_SQLITE_AFTER = (
    _INSERT  # noqa: S608
    + "(?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN (SELECT max(seq) FROM audit_events) IS ?9 "
    "AND (SELECT leaf_hash FROM audit_events WHERE seq = ?9) IS ?10 THEN ?7 END, ?8)"
)
# PostgreSQL, without a hint (or with a stale one, or a large batch): one round trip, a
# call of ``ostiary_audit_append`` (migrations 0026, 0027). It takes the head's row lock
# every appender queues on (FOR UPDATE; in READ COMMITTED the row read after the wait is
# the committed head), places and hashes each entry after it, inserts the rows, moves the
# head, indexes a completed search batch and returns the head it leaves. Each event
# travels as its entry's two halves around the chain fields
# (:func:`ostiary.audit.entries.halves`) and its searched columns, the batch as one
# ``jsonb`` array (as ``json`` each ``->>`` parses the element again: ~600 against ~370
# us of the backend a batch of 8; docs/performance.md, session 15). Reading the head
# first cost a round trip an append (docs/performance.md, session 17).
_PG_APPEND = "SELECT head_size, head_leaf, head_indexed FROM ostiary_audit_append($1::jsonb, $2)"
# PostgreSQL, after a hinted head (``_HEAD_HINT``, the head this engine last committed):
# the entries placed and hashed in Python, inserted by one statement that first moves the
# head row from the hinted head to the new one. The UPDATE takes the row lock (after a
# wait, READ COMMITTED checks its condition against the committed row), and the rows are
# inserted only if it moved the row: after another appender the statement writes
# nothing, and the function above appends instead. Against the function's per-event
# work in PL/pgSQL (the ``jsonb`` elements, the splice, the growing arrays) the backend
# spends ~7 us an event less and the client ~1 us more (docs/performance.md, session 19).
# Native ``$n`` parameters (psycopg's RawCursor): converting ``%s`` placeholders is not
# cached for a statement this long and cost ~1 us a parameter. Up to PG_PLACED events a
# statement, one text per batch size, so psycopg keeps at most PG_PLACED of them prepared.
PG_PLACED = 32
_PG_MOVE = (
    "WITH moved AS (UPDATE audit_head SET size = $1, last_leaf = $2, indexed = $3 "  # noqa: S608
    "WHERE id = 1 AND size = $4 AND last_leaf IS NOT DISTINCT FROM $5::bytea "
    "AND indexed = $6 RETURNING 1) "
    f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) SELECT v.* FROM moved, (VALUES "
)
_PG_TYPES = ("bigint", "text", "timestamptz", "text", "text", "text", "text", "bytea")


def _pg_placed(n: int) -> str:
    """The statement inserting ``n`` placed rows after the hinted head (``_PG_MOVE``): the
    head's six parameters, then each row's eight, typed in the first row."""
    first = ", ".join(f"${7 + i}::{t}" for i, t in enumerate(_PG_TYPES))
    rows = [f"({first})"] + [
        f"({', '.join(f'${7 + 8 * r + i}' for i in range(8))})" for r in range(1, n)
    ]
    return _PG_MOVE + ", ".join(rows) + f") AS v({', '.join(_COLUMNS)})"


_PG_PLACED = [""] + [_pg_placed(n) for n in range(1, PG_PLACED + 1)]
_OUTCOMES = "INSERT INTO audit_outcomes (seq, outcome) VALUES (?, ?)"
_MISSING_HEAD = "the audit_head row is missing: the log cannot be appended to"
_NO_HEAD = "P0002"  # no_data_found, the function's error for a missing head row


def sqlite_time(at: datetime) -> str:
    """``at`` (UTC) as SQLAlchemy's DateTime stores it on SQLite: "YYYY-MM-DD HH:MM:SS.ffffff"
    (isoformat in C is several times cheaper than strftime)."""
    return at.isoformat(" ", "microseconds")[:26]


class AuditLog:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(self, event: AuditEvent, at: datetime) -> str:
        return self.append_many([(event, at)])[0]

    def append_many(self, events: list[tuple[AuditEvent, datetime]]) -> list[str]:
        """Events in the caller's transaction, in order (a group commit passes several):
        each takes the next position and chains to the one before it. Entries are
        built before the lock is taken (:func:`prepare`), so it is held only for the
        statements and the joining of each entry's parts, and a batch is inserted with
        one statement (SQLite: one ``executemany``) and moves the head once."""
        if not events:
            return []
        pg = self._conn.dialect.name == "postgresql"
        if len(events) == 1:  # a single write's event: no comprehensions to run
            event, at = events[0]
            return append_prepared(self._conn, [prepare_event(event, at, pg)])
        return append_prepared(self._conn, [prepare_event(event, at, pg) for event, at in events])


def append_prepared(conn: Connection, prepared: list[Prepared]) -> list[str]:
    """Entries made by :func:`prepare` (for ``conn``'s engine), appended in order in the
    caller's transaction as :meth:`AuditLog.append_many` appends events; their ids. A
    function, not only a method: the SCIM writes call it without making an
    :class:`AuditLog` (~2,000 instructions a write; docs/performance.md, session 12)."""
    if not prepared:
        return []
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        end = _append_postgres(conn, dbapi, prepared)
    else:
        end = _append_sqlite(conn, dbapi, prepared)
    if len(prepared) == 1:
        if prepared[0][1]["outcome"] != SUCCESS:
            _note_outcomes(conn, prepared, end)
        return [prepared[0][0][0]]
    _note_outcomes(conn, prepared, end)
    return [columns[0] for columns, _ in prepared]


def _note_outcomes(conn: Connection, prepared: list[Prepared], end: int) -> None:
    """Record the events of ``prepared`` (placed before ``end``) that did not succeed in
    ``audit_outcomes``, in the same transaction: a success, nearly every event, costs
    one comparison, and a search for a failure reads only failures. Through the driver,
    as the append: the OAuth group commit holds SQLite's transaction itself (its own
    ``BEGIN IMMEDIATE``), outside SQLAlchemy's."""
    start = end - len(prepared)
    rows = [
        (start + n, doc["outcome"])
        for n, (_, doc) in enumerate(prepared)
        if doc["outcome"] != SUCCESS
    ]
    if not rows:
        return
    dbapi: Any = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        with dbapi.cursor() as cursor:
            cursor.executemany(_OUTCOMES.replace("?", "%s"), rows)
    else:
        dbapi.executemany(_OUTCOMES, rows)


def _append_postgres(conn: Connection, dbapi: Any, prepared: list[Prepared]) -> int:
    """Insert the rows after the hinted head (``_PG_MOVE``) or, without one, when the log
    does not end there or for a batch over PG_PLACED events, through the function
    (``_PG_APPEND``), which returns the head it leaves. As on SQLite the hint moves only
    once the transaction commits, and after a miss it is tried again only once the
    function shows it would have been right (no other appender in between)."""
    kept = conn.engine.__dict__
    hint = kept.get(_HEAD_HINT)
    if hint is None:
        hint = kept[_HEAD_HINT] = [None, False]
    known = hint[0]
    cursor = RawCursor(dbapi)
    try:
        move = None
        if known is not None and not hint[1] and len(prepared) <= PG_PLACED:
            move = _insert_after_pg(cursor, prepared, known)
            if move is None:
                hint[1] = True  # another appender: the function until the hint is right
        if move is None:
            move = _append_function(cursor, prepared)
            if hint[1] and known is not None and move[0] - len(prepared) == known[0]:
                hint[1] = False  # nothing came between: the hint would have been right
    finally:
        cursor.close()
    when_committed(conn, partial(_promote, hint, move))
    return move[0]


def _insert_after_pg(cursor: Any, prepared: list[Prepared], head: Moved) -> Moved | None:
    """The rows of ``prepared`` placed after ``head`` and inserted, a completed search
    batch indexed; the head they leave, or None (nothing written) if the log does not
    end at ``head``."""
    rows, move, indexed = _place(prepared, head)
    params: list[Any] = [move[0], move[1], move[2], head[0], head[1], indexed]
    for row in rows:
        params += row
    cursor.execute(_PG_PLACED[len(rows)], params)
    if cursor.rowcount != len(rows):
        return None
    if move[2] != indexed:  # a batch completed: the rows from ``indexed`` on
        cursor.execute(PG_BATCH, (move[0], indexed))
    return move


def _append_function(cursor: Any, prepared: list[Prepared]) -> Moved:
    """The rows appended by ``ostiary_audit_append``; the head it leaves."""
    rows = [(*halves(doc), *columns) for columns, doc in prepared]
    try:
        cursor.execute(_PG_APPEND, (orjson.dumps(rows).decode(), INDEX_BATCH))
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == _NO_HEAD:
            raise AuditError(_MISSING_HEAD) from exc
        raise
    size, leaf, indexed = cursor.fetchone()
    return int(size), leaf, int(indexed)


Head = tuple[int, bytes | None, int]  # size, last leaf hash, indexed prefix
# A head as the appenders move it: the leaf hash as the bytearray SQLite binds.
Moved = tuple[int, bytes | bytearray | None, int]
# An event waiting for its position: its indexed columns (id first) and its document.
Prepared = tuple[tuple[Any, ...], dict[str, Any]]


# The head after this engine's (this process's pool's) last committed append, and whether
# the last try of it missed, in a two-item list set in place, kept in the engine's own
# ``__dict__`` under this name (the look-up costs ~1,100 instructions less than a
# WeakKeyDictionary's). Only a hint: the events are inserted after it with
# ``_SQLITE_AFTER`` or ``_PG_MOVE``, which write nothing unless the stored log ends
# exactly there, so a stale hint (another process appended, or pruned the events it had
# seen) costs one refused statement, and the head is then read (SQLite) or the function
# appends (PostgreSQL). Reading the head on every append cost ~2 points of a SCIM
# create's CPU time on SQLite (docs/performance.md, session 13).
_HEAD_HINT = "_ostiary_audit_head_hint"


def _append_sqlite(conn: Connection, dbapi: Any, prepared: list[Prepared]) -> int:
    """Insert the rows after the hinted head (``_HEAD_HINT``) or, without one or when the
    log does not end there, after the head read from the log; index a completed search
    batch and bring the ``audit_head`` row up to date with it. The hint moves only once
    the transaction has committed (``when_committed``), so a rolled-back append does
    not leave it past the stored log. Statements go through the sqlite3 connection's
    own ``execute`` (it makes the cursor in C)."""
    kept = conn.engine.__dict__
    hint = kept.get(_HEAD_HINT)
    if hint is None:
        hint = kept[_HEAD_HINT] = [None, False]
    known = hint[0]
    placed = None
    if known is not None and not hint[1]:
        placed = _place(prepared, known)
        if not _insert_after(dbapi, placed[0], known):
            placed = None
            hint[1] = True  # another process appends too: read the head next time
    if placed is None:
        head = _head(dbapi.execute(_SQLITE_HEAD).fetchone())
        if hint[1] and head == known:
            hint[1] = False  # the hint would have been right: try it again
        placed = _place(prepared, head)
        rows = placed[0]
        if len(rows) == 1:
            dbapi.execute(_SQLITE[0], rows[0])
        else:
            dbapi.executemany(_SQLITE[0], rows)
    _, move, indexed = placed
    if move[2] != indexed:  # a batch completed: the rows from ``indexed`` on
        dbapi.execute(_SQLITE[1], move)
        dbapi.execute(_SQLITE[2], (move[0], indexed))
        dbapi.execute(_SQLITE[3], (move[0], indexed))
    when_committed(conn, partial(_promote, hint, move))
    return move[0]


def _insert_after(dbapi: Any, rows: list[tuple[Any, ...]], head: Moved) -> bool:
    """Insert ``rows`` after ``head``: False, with nothing written, if the log does not
    end there. Only the first row is checked (``_SQLITE_AFTER``); the others follow it
    plainly: under the write lock nothing else appends between them, and each was placed
    after the one before it. Checking every row cost two look-ups a row (~2 us;
    docs/performance.md, session 15)."""
    try:
        dbapi.execute(_SQLITE_AFTER, (*rows[0], head[0] - 1, head[1]))
    except sqlite3.IntegrityError:
        return False
    if len(rows) > 1:
        dbapi.executemany(_SQLITE[0], rows[1:])
    return True


def _promote(hint: list[Any], head: Moved) -> None:
    hint[0] = head


def _head(row: Any) -> Head:
    if row is None:
        raise AuditError(_MISSING_HEAD)
    return row[0], bytes(row[1]) if row[1] else None, row[2]


def _place(prepared: list[Prepared], head: Moved) -> tuple[list[tuple[Any, ...]], Moved, int]:
    """SQLite: the rows of ``prepared`` placed after ``head``, the head they move it to,
    and where the unindexed tail started (the new head's ``indexed`` differs when a batch
    is due). Leaf hashes are ``bytearray``: the driver runs every ``bytes`` parameter
    through the adapter lookup (two failed attribute lookups, about as costly as binding
    the other twelve columns), a bytearray binds directly as the same BLOB."""
    position, last, indexed = head
    rows = []
    for columns, doc in prepared:
        entry = place(doc, position, last)
        last = bytearray(leaf_hash(entry))
        rows.append((position, *columns, entry.decode(), last))
        position += 1
    due = position - indexed >= INDEX_BATCH
    return rows, (position, last, position if due else indexed), indexed


def prepare_event(event: AuditEvent, at: datetime, pg: bool) -> Prepared:
    """:func:`prepare` of ``event``'s fields."""
    return prepare(fields_of(event), at, pg)


def prepare(fields: EventFields, at: datetime, pg: bool) -> Prepared:
    """The indexed columns (id first) and the document of the event of ``fields``,
    waiting for a position; ``pg``: for PostgreSQL (its time column takes the datetime).
    Every SCIM write appends one, from its fields: building the event object first cost
    ~7,000 instructions (docs/performance.md, session 12)."""
    if at.tzinfo is not UTC:  # SQLite stores the wall time it is given: make it UTC
        at = as_utc(at)
    event_id = new_event_id()
    time, stored = utc_times(at)
    doc = document_of(fields, event_id, time)
    return (event_id, at if pg else stored, fields[0], fields[1].id, fields[4]), doc


def _document(row: Any) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(row.entry)
    doc["seq"] = row.seq
    return doc


class AuditReader:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def search(self, q: AuditQuery) -> tuple[list[dict[str, Any]], int | None]:
        """A page of events in seq order (or newest first), and the cursor for the next
        page (or None); see :mod:`ostiary.store.repositories.audit_query`."""
        rows, cursor = search(self._conn, q, self._indexed())
        return [_document(r) for r in rows], cursor

    def get(self, event_id: str) -> dict[str, Any] | None:
        seq = self.position_of(event_id)
        if seq is None:
            return None
        row = self._conn.execute(select(ae.c.seq, ae.c.entry).where(ae.c.seq == seq)).first()
        return _document(row) if row else None

    def position_of(self, event_id: str) -> int | None:
        """The event's tree position: from audit_search's id index, else from the tail
        (the boundary is read first: an event indexed meanwhile is still in the tail)."""
        boundary = self._indexed()
        seq = self._conn.execute(
            select(audit_search.c.seq).where(audit_search.c.id == event_id)
        ).scalar()
        if seq is None:
            tail = select(ae.c.seq).where(ae.c.seq >= boundary, ae.c.id == event_id)
            seq = self._conn.execute(tail).scalar()
        return None if seq is None else int(seq)

    def _indexed(self) -> int:
        """Where the not-yet-indexed tail starts. Read before the queries it bounds: rows
        below it reached audit_search in the transaction that moved it."""
        stmt = select(audit_head.c.indexed).where(audit_head.c.id == 1)
        return int(self._conn.execute(stmt).scalar_one())

    def head(self) -> tuple[int, bytes | None]:
        """The tree size and last leaf hash: the ``audit_head`` row on PostgreSQL; on
        SQLite, where that row moves only once a search batch (``_SQLITE_HEAD``), the
        newest event row when it lies past the row."""
        if self._conn.dialect.name == "postgresql":
            row = self._conn.execute(select(audit_head).where(audit_head.c.id == 1)).one()
            return int(row.size), bytes(row.last_leaf) if row.last_leaf else None
        size, last, _ = _head(self._conn.exec_driver_sql(_SQLITE_HEAD).first())
        return size, last

    def settle_head(self) -> None:
        """Write the head into the ``audit_head`` row (SQLite; PostgreSQL's row is always
        up to date): before events are deleted, so the row keeps the size and last leaf
        that no event row will hold any more. In a write transaction."""
        if self._conn.dialect.name != "postgresql":
            size, last = self.head()
            self._conn.execute(audit_head.update().values(size=size, last_leaf=last))

    def batches(self, start: int = 0, batch: int = 20_000) -> Iterator[list[Any]]:
        """Rows from position ``start`` in tree order, in keyset batches, as raw DB-API
        tuples with the columns of :data:`ostiary.audit.verify.ROW_COLUMNS` (``entry`` as
        str or bytes, depending on the driver). Verification
        reads every row: skipping SQLAlchemy's result processing (JSON, SQLite dates)
        makes it several times faster."""
        pg = self._conn.dialect.name == "postgresql"
        mark = "%s" if pg else "?"
        # SQLite hands the entry over as the bytes that are hashed: decoding it to str
        # only for the verifier to encode it again cost a third of the fetch.
        entry = "entry" if pg else "CAST(entry AS BLOB)"
        names = {"entry": entry, "position": "seq"}  # the seq is the tree position
        columns = ", ".join(names.get(c, c) for c in ROW_COLUMNS)
        sql = (
            f"SELECT {columns} FROM audit_events WHERE seq >= {mark} "  # noqa: S608
            f"ORDER BY seq LIMIT {mark}"
        )
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            while True:
                cursor.execute(sql, (start, batch))
                chunk = list(cursor.fetchall())
                if chunk:
                    yield chunk
                if len(chunk) < batch:
                    return
                start = chunk[-1][1] + 1
        finally:
            cursor.close()

    def entries_from(self, position: int, limit: int) -> list[dict[str, Any]]:
        stmt = (
            select(ae.c.seq, ae.c.entry).where(ae.c.seq >= position).order_by(ae.c.seq).limit(limit)
        )
        return [_document(r) for r in self._conn.execute(stmt)]

    def leaf_hashes(self, lo: int, hi: int) -> list[bytes]:
        """The stored leaf hashes of positions ``lo`` to ``hi`` (those that exist), in
        order. Through the driver: the periodic checkpoint folds every new event's,
        and SQLAlchemy's statement and result layers cost ~1.4 us a row, several times
        the hashing (docs/performance.md, session 17)."""
        mark = "%s" if self._conn.dialect.name == "postgresql" else "?"
        sql = (
            f"SELECT leaf_hash FROM audit_events WHERE seq >= {mark} AND seq < {mark} ORDER BY seq"  # noqa: S608
        )
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, (lo, hi))
            return [row[0] for row in cursor.fetchall()]
        finally:
            cursor.close()
