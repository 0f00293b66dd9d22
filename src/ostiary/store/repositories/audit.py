"""Appending audit events inside the caller's transaction, and reading them back.

``append`` locks the single ``audit_head`` row (an UPDATE on PostgreSQL, the database write
lock on SQLite), takes the next tree position and the previous leaf hash from it, and
inserts the event chained to its predecessor. The lock is held until the caller commits,
so positions are dense and become visible in order; see docs/audit.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Select, select

from ostiary.audit.entries import canonical, chain, event_document
from ostiary.audit.errors import AuditError
from ostiary.audit.events import AuditEvent
from ostiary.audit.merkle import leaf_hash
from ostiary.audit.verify import ROW_COLUMNS
from ostiary.core.clock import as_utc
from ostiary.core.ids import new_id
from ostiary.store.tables_audit import audit_events as ae
from ostiary.store.tables_audit import audit_head

__all__ = ["AuditLog", "AuditQuery", "AuditReader", "canonical", "event_document", "leaf_hash"]

MAX_PAGE = 1000


# Every stored column but seq (the database assigns it), in the verifier's order.
_COLUMNS = ROW_COLUMNS[1:]


def _statements(mark: str) -> tuple[str, str, str]:
    return (
        f"UPDATE audit_head SET size = size + {mark} WHERE id = 1 RETURNING size, last_leaf",  # noqa: S608
        f"UPDATE audit_head SET last_leaf = {mark} WHERE id = 1",  # noqa: S608  (placeholders only)
        f"INSERT INTO audit_events ({', '.join(_COLUMNS)}) "  # noqa: S608
        f"VALUES ({', '.join(mark for _ in _COLUMNS)})",
    )


# The append runs inside every audited write, so it talks to the driver directly: through
# SQLAlchemy's statement machinery the three statements cost more than the database work.
# The entry text is the event's only copy (no JSON column repeating it): readers decode it.
_SQL = {"sqlite": _statements("?"), "postgresql": _statements("%s")}
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores times on SQLite


class AuditLog:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(self, event: AuditEvent, at: datetime) -> str:
        return self.append_many([(event, at)])[0]

    def append_many(self, events: list[tuple[AuditEvent, datetime]]) -> list[str]:
        """Several events in one go (the token endpoint's group commit, a deprovisioning):
        one head bump for all of them, then one insert of every row. Each still takes the
        next position and chains to the one before it."""
        if not events:
            return []
        dialect = self._conn.dialect.name
        bump, set_leaf, insert_event = _SQL[dialect]
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            # Lock the head first: the UPDATE takes the row lock every appender queues on.
            cursor.execute(bump, (len(events),))
            head = cursor.fetchone()
            if head is None:
                raise AuditError("the audit_head row is missing: the log cannot be appended to")
            size, last_leaf = head
            leaf = bytes(last_leaf) if last_leaf else None
            ids, rows = [], []
            for offset, (event, at) in enumerate(events):
                position = size - len(events) + offset
                leaf, row = _row(event, as_utc(at), position, leaf, dialect)
                ids.append(row[1])
                rows.append(row)
            cursor.execute(set_leaf, (leaf,))
            if len(rows) == 1:
                cursor.execute(insert_event, rows[0])
            else:
                cursor.executemany(insert_event, rows)
        finally:
            cursor.close()
        return ids


def _row(
    event: AuditEvent, at: datetime, position: int, previous: bytes | None, dialect: str
) -> tuple[bytes, tuple[Any, ...]]:
    """The chained entry's leaf hash and the row to insert (in ``_COLUMNS`` order)."""
    event_id = new_id()
    entry = canonical(chain(event_document(event, event_id, at), position, previous))
    leaf = leaf_hash(entry)
    when: Any = at.strftime(_SQLITE_TIME) if dialect == "sqlite" else at
    row = (
        position,
        event_id,
        when,
        event.action,
        event.outcome,
        event.actor.kind,
        event.actor.id,
        event.target_type,
        event.target_id,
        event.request.request_id,
        event.request.source_ip,
        entry.decode(),
        leaf,
    )
    return leaf, row


@dataclass(frozen=True)
class AuditQuery:
    actor: str | None = None
    target: str | None = None
    action: str | None = None  # exact, or a prefix ending in '*' ("scim.user.*")
    outcome: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: int | None = None  # the keyset cursor
    limit: int = 100


def _document(row: Any) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(row.entry)
    doc["seq"] = row.seq
    return doc


class AuditReader:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def search(self, q: AuditQuery) -> tuple[list[dict[str, Any]], int | None]:
        """A page of events in seq order, and the cursor for the next page (or None).
        Each filter uses an index that ends in ``seq``, so a page costs O(limit)."""
        limit = max(1, min(q.limit, MAX_PAGE))
        stmt: Select[Any] = select(ae.c.seq, ae.c.entry).order_by(ae.c.seq).limit(limit + 1)
        if q.actor:
            stmt = stmt.where(ae.c.actor_id == q.actor)
        if q.target:
            stmt = stmt.where(ae.c.target_id == q.target)
        if q.action:
            if q.action.endswith("*"):
                stmt = stmt.where(ae.c.action.startswith(q.action[:-1], autoescape=True))
            else:
                stmt = stmt.where(ae.c.action == q.action)
        if q.outcome:
            stmt = stmt.where(ae.c.outcome == q.outcome)
        if q.since:
            stmt = stmt.where(ae.c.occurred_at >= q.since)
        if q.until:
            stmt = stmt.where(ae.c.occurred_at < q.until)
        if q.after_seq is not None:
            stmt = stmt.where(ae.c.seq > q.after_seq)
        rows = self._conn.execute(stmt).all()
        cursor = rows[limit - 1].seq if len(rows) > limit else None
        return [_document(r) for r in rows[:limit]], cursor

    def get(self, event_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(select(ae.c.seq, ae.c.entry).where(ae.c.id == event_id)).first()
        return _document(row) if row else None

    def position_of(self, event_id: str) -> int | None:
        pos = self._conn.execute(select(ae.c.position).where(ae.c.id == event_id)).scalar()
        return None if pos is None else int(pos)

    def head(self) -> tuple[int, bytes | None]:
        row = self._conn.execute(select(audit_head).where(audit_head.c.id == 1)).one()
        return int(row.size), bytes(row.last_leaf) if row.last_leaf else None

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
        columns = ", ".join(entry if c == "entry" else c for c in ROW_COLUMNS)
        sql = (
            f"SELECT {columns} FROM audit_events WHERE position >= {mark} "  # noqa: S608
            f"ORDER BY position LIMIT {mark}"
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
            select(ae.c.seq, ae.c.entry)
            .where(ae.c.position >= position)
            .order_by(ae.c.position)
            .limit(limit)
        )
        return [_document(r) for r in self._conn.execute(stmt)]

    def leaf_hashes(self, lo: int, hi: int) -> list[bytes]:
        stmt = (
            select(ae.c.leaf_hash)
            .where(ae.c.position >= lo, ae.c.position < hi)
            .order_by(ae.c.position)
        )
        return [bytes(h) for h in self._conn.execute(stmt).scalars()]
