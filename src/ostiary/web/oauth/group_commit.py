"""Audit events for token issuance, written by group commit.

Issuing a token changes no other state, so its audit event is the only write. Instead of
one transaction per token, events queue on the event loop and one flush at a time commits
every event waiting at that moment in one transaction; each request still waits until
*its* event is committed before it returns the token, so durability is that of a
per-request transaction at a fraction of the cost.

On SQLite the flush runs on the event loop itself. A batch is a few hundred microseconds
of local work (no fsync per commit in WAL with ``synchronous=NORMAL``), while handing it to
a worker thread cost more than the write: the thread and the loop then contend for the GIL
around every driver call, the loop is woken through its self-pipe, and with granian's own
threads that was ~15 futex calls per token. The write lock is only *tried* on the loop
(``busy_timeout`` 0 for the ``BEGIN IMMEDIATE``): when another process holds it, the
flusher sleeps on the loop and tries again, taking the events that arrived meanwhile
(``tests/web/test_token_group_commit.py``), so the loop never blocks in SQLite's busy
handler. PostgreSQL (a network round trip per statement) keeps the worker thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from ostiary.audit.events import AuditEvent
from ostiary.store.db import Database
from ostiary.store.errors import DatabaseUnavailable
from ostiary.store.repositories.audit import AuditLog

MAX_BATCH = 512
Item = tuple[AuditEvent, datetime, "asyncio.Future[None]"]
# Backoff while another process holds SQLite's write lock: its transactions are short.
FIRST_RETRY = 0.0002
MAX_RETRY = 0.002


class GroupCommitAudit:
    def __init__(self, db: Database, timeout: float = 10.0) -> None:
        self._db = db
        self._timeout = timeout
        self._on_loop = db.dialect == "sqlite"
        self._pending: list[Item] = []
        self._flusher: asyncio.Task[None] | None = None

    async def append_async(self, event: AuditEvent, at: datetime) -> None:
        """Returns once the event is committed; raises if the write failed."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._pending.append((event, at, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._drain())
        # A timer rather than wait_for(shield(...)): the same timeout without two extra
        # futures and a task per token. On timeout the event may still be written later
        # (the batch is not cancelled), but the token is never sent.
        timer = loop.call_later(self._timeout, _expire, done)
        try:
            await done
        finally:
            timer.cancel()

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let requests that are ready add their events first
        while self._pending:
            try:
                if self._on_loop:
                    batch = await self._write_on_loop()
                else:
                    batch = self._take()
                    await run_in_threadpool(self._write, batch)
            except _BatchFailed as failed:  # every waiting request learns it was not written
                _settle(failed.batch, failed.exc)
            else:
                _settle(batch, None)

    def _take(self) -> list[Item]:
        batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
        return batch

    def _write(self, batch: list[Item]) -> None:
        try:
            with self._db.begin() as conn:
                AuditLog(conn).append_many([(event, at) for event, at, _ in batch])
        except Exception as exc:
            raise _BatchFailed(batch, exc) from exc

    async def _write_on_loop(self) -> list[Item]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._timeout
        delay = FIRST_RETRY
        while True:
            try:
                with self._db.engine.connect() as conn:
                    if _try_lock(conn):
                        # Taken only now: events that came while the lock was busy join.
                        batch = self._take()
                        _commit(conn, batch)
                        return batch
            except _BatchFailed:
                raise
            except Exception as exc:  # no connection, or BEGIN failed for another reason
                raise _BatchFailed(self._take(), exc) from exc
            if loop.time() >= deadline:
                busy = DatabaseUnavailable("the audit log's write lock stayed busy")
                raise _BatchFailed(self._take(), busy)
            await asyncio.sleep(delay)
            delay = min(delay * 2, MAX_RETRY)


class _BatchFailed(Exception):
    def __init__(self, batch: list[Item], exc: Exception) -> None:
        super().__init__(str(exc))
        self.batch = batch
        self.exc = exc


def _raw(conn: Connection) -> Any:
    return conn.connection.dbapi_connection


def _try_lock(conn: Connection) -> bool:
    """``BEGIN IMMEDIATE`` without waiting: False if another connection writes."""
    raw = _raw(conn)
    waits = raw.execute("PRAGMA busy_timeout").fetchone()[0]  # store.db's, put back below
    raw.execute("PRAGMA busy_timeout=0")
    try:
        raw.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return False
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(waits)}")
    return True


def _commit(conn: Connection, batch: list[Item]) -> None:
    raw = _raw(conn)
    try:
        AuditLog(conn).append_many([(event, at) for event, at, _ in batch])
        raw.execute("COMMIT")
    except Exception as exc:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        raise _BatchFailed(batch, exc) from exc


def _settle(batch: list[Item], exc: Exception | None) -> None:
    for *_, done in batch:
        if done.done():
            continue  # timed out or cancelled (the client went away)
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)


def _expire(done: asyncio.Future[None]) -> None:
    if not done.done():
        done.set_exception(TimeoutError("the audit write did not finish in time"))
