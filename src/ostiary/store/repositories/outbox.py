"""Outbox persistence: enqueue inside the caller's transaction, claim with a lease.

Claiming uses ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several nodes share the work
and each message goes to one of them; SQLite serialises writers (BEGIN IMMEDIATE), which
gives the same guarantee on one machine. The lease (``locked_until``) covers the send,
which happens outside any transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Connection, Row, and_, func, insert, or_, select, update

from ostiary.core.ids import new_id
from ostiary.signals.outbox import OutboxMessage, Status
from ostiary.store.db import touch
from ostiary.store.tables_signals import outbox


def _message(r: Row[Any]) -> OutboxMessage:
    return OutboxMessage(
        id=r.id,
        topic=r.topic,
        destination=r.destination,
        payload=r.payload,
        attempts=r.attempts,
        status=Status(r.status),
        created_at=r.created_at,
        next_attempt_at=r.next_attempt_at,
        last_error=r.last_error,
        delivered_at=r.delivered_at,
    )


def _due(now: datetime) -> ColumnElement[bool]:
    return and_(
        outbox.c.status == Status.PENDING.value,
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.locked_until.is_(None), outbox.c.locked_until <= now),
    )


# The Database.on_commit topic of a transaction that queued messages: the delivery worker
# listens, so a commit that queued nothing (most SCIM writes) does not wake it to poll.
QUEUED = "outbox.queued"


class OutboxBatch:
    """Messages gathered from several producers of one transaction and written with one
    multi-row INSERT (``flush``): a deprovisioning queues SETs, webhooks and logout tokens
    in one round trip instead of one each. Nothing is written until ``flush``."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.rows: list[dict[str, Any]] = []

    def add(self, topic: str, destination: str, payload: dict[str, Any]) -> str:
        message_id = new_id()
        self.rows.append(
            {
                "id": message_id,
                "topic": topic,
                "destination": destination,
                "payload": payload,
                "status": Status.PENDING.value,
                "attempts": 0,
                "created_at": self.now,
                "next_attempt_at": self.now,
            }
        )
        return message_id

    def flush(self, conn: Connection) -> int:
        """Write what was added (in the caller's transaction); returns how many. The
        commit then wakes the delivery worker (``QUEUED`` listeners, Database.on_commit)."""
        rows, self.rows = self.rows, []
        if rows:
            conn.execute(insert(outbox), rows)
            touch(conn, QUEUED)
        return len(rows)


class OutboxRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def enqueue(self, topic: str, destination: str, payload: dict[str, Any], now: datetime) -> str:
        batch = OutboxBatch(now)
        message_id = batch.add(topic, destination, payload)
        batch.flush(self._conn)
        return message_id

    def has_due(self, now: datetime) -> bool:
        """A cheap read, so an idle worker never takes SQLite's write lock to find nothing."""
        return self._conn.execute(select(outbox.c.id).where(_due(now)).limit(1)).first() is not None

    def claim(self, now: datetime, lease: timedelta, limit: int = 50) -> list[OutboxMessage]:
        stmt = select(outbox).where(_due(now)).order_by(outbox.c.next_attempt_at).limit(limit)
        if self._conn.dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        rows = self._conn.execute(stmt).all()
        if rows:
            ids = [r.id for r in rows]
            self._conn.execute(
                update(outbox).where(outbox.c.id.in_(ids)).values(locked_until=now + lease)
            )
        return [_message(r) for r in rows]

    def delivered(self, message_id: str, attempts: int, now: datetime) -> None:
        self._conn.execute(
            update(outbox)
            .where(outbox.c.id == message_id)
            .values(
                status=Status.DELIVERED.value,
                attempts=attempts,
                delivered_at=now,
                locked_until=None,
                last_error=None,
            )
        )

    def failed(self, message_id: str, attempts: int, error: str, retry_at: datetime | None) -> None:
        values: dict[str, Any] = {"attempts": attempts, "last_error": error[:2000]}
        values["locked_until"] = None
        if retry_at is None:
            values["status"] = Status.DEAD.value
        else:
            values["next_attempt_at"] = retry_at
        self._conn.execute(update(outbox).where(outbox.c.id == message_id).values(**values))

    def get(self, message_id: str) -> OutboxMessage | None:
        row = self._conn.execute(select(outbox).where(outbox.c.id == message_id)).first()
        return None if row is None else _message(row)

    def recent(
        self, status: Status | None = None, topic: str | None = None, limit: int = 100
    ) -> list[OutboxMessage]:
        stmt = select(outbox).order_by(outbox.c.created_at.desc()).limit(limit)
        if status is not None:
            stmt = stmt.where(outbox.c.status == status.value)
        if topic is not None:
            stmt = stmt.where(outbox.c.topic == topic)
        return [_message(r) for r in self._conn.execute(stmt)]

    def counts(self) -> dict[str, int]:
        stmt = select(outbox.c.status, func.count()).group_by(outbox.c.status)
        found = {status: n for status, n in self._conn.execute(stmt)}
        return {s.value: int(found.get(s.value, 0)) for s in Status}

    def retry(self, message_id: str, now: datetime) -> bool:
        """Send a dead message again (an operator's decision)."""
        stmt = (
            update(outbox)
            .where(outbox.c.id == message_id, outbox.c.status == Status.DEAD.value)
            .values(status=Status.PENDING.value, next_attempt_at=now, attempts=0)
        )
        return bool(self._conn.execute(stmt).rowcount)
