"""Group commit for SCIM creates.

Every audited write holds the audit head (SQLite's single write lock; the ``audit_head``
row lock on PostgreSQL) until it commits, so creates run one at a time whatever the
concurrency, and a create per transaction pays a pool checkout, ``BEGIN``, a commit (the
WAL write; an fsync on PostgreSQL) and a thread hand-off each; on SQLite, threads queueing
on the write lock also sleep in its busy handler. Instead, creates queue
on the event loop and one flush at a time runs every create waiting at that moment in one
transaction on a worker thread, **each in its own savepoint**: one that fails (a taken
userName, a bad manager) rolls back alone and gets its own error; the others commit.

Durability is that of a transaction per request: a request learns its result only after
the batch's commit returned, so a 201 is never sent for a create that is not committed,
and if the commit fails every create of the batch gets the error. The audit event of a
create is written by the create itself, inside its savepoint: it commits with it or not
at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from ostiary.store.db import Database

MAX_BATCH = 64  # creates per transaction: bounds how long the write lock is held
Op = Callable[[Connection], Any]
Item = tuple[Op, "asyncio.Future[Any]"]
_SAVEPOINT = ("SAVEPOINT ostiary_batch", "RELEASE SAVEPOINT ostiary_batch")
_ROLLBACK = "ROLLBACK TO SAVEPOINT ostiary_batch"


class Failed:
    """An operation's exception, carried back to the request that queued it."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class GroupCommit:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._pending: list[Item] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, op: Op) -> Any:
        """``op(conn)``'s result once its transaction committed; its exception (or the
        commit's) otherwise."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        self._pending.append((op, done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let requests that are ready queue theirs first
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await run_in_threadpool(self._write, [op for op, _ in batch])
            except Exception as exc:  # the commit failed: nothing of the batch is written
                results = [Failed(exc)] * len(batch)
            for (_, done), result in zip(batch, results, strict=True):
                if done.done():  # the request was cancelled (client gone)
                    continue
                if isinstance(result, Failed):
                    done.set_exception(result.exc)
                else:
                    done.set_result(result)

    def _write(self, ops: list[Op]) -> list[Any]:
        with self._db.begin() as conn:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                return [_one(conn, cursor, op) for op in ops]
            finally:
                cursor.close()


def _one(conn: Connection, cursor: Any, op: Op) -> Any:
    # Savepoints at the driver: SQLAlchemy's begin_nested() costs more than the create's
    # own statements. The operation may nest savepoints of its own inside this one.
    save, release = _SAVEPOINT
    cursor.execute(save)
    try:
        result = op(conn)
    except Exception as exc:
        cursor.execute(_ROLLBACK)
        cursor.execute(release)
        return Failed(exc)
    cursor.execute(release)
    return result
