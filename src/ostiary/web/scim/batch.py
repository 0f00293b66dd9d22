"""Group commit for SCIM creates.

Every audited write holds the audit head (SQLite's single write lock; the ``audit_head``
row lock on PostgreSQL) until it commits, so creates run one at a time whatever the
concurrency, and a create per transaction pays a pool checkout, ``BEGIN``, a commit (the
WAL write; an fsync on PostgreSQL) and a thread hand-off each; on SQLite, threads queueing
on the write lock also sleep in its busy handler. Instead, creates queue
on the event loop and one flush at a time runs every create waiting at that moment in one
transaction on a worker thread. One that fails (a taken userName, a bad manager) rolls back
alone and gets its own error; the others commit: the batch runs under one savepoint, and
if an operation raises, everything is rolled back to it and the batch runs again with a
savepoint per operation (a round trip each on PostgreSQL, which most batches, with no
failure, no longer pay).

Durability is that of a transaction per request: a request learns its result only after
the batch's commit returned, so a 201 is never sent for a create that is not committed,
and if the commit fails every create of the batch gets the error. The audit events of the
creates are held and appended together before the commit (``around``: the SCIM writes
pass ``call.held_events``), in the batch's transaction: each commits with its create or
not at all, and a create rolled back drops its own. On PostgreSQL consecutive flushes
share a connection (``store.db.HeldConnection``: no pool checkout and pre-ping per flush).

On PostgreSQL a request's admission (authentication, rate limits, attribute checks: a
cold key is a database read) runs on the batch's worker thread too, before the
transaction opens, so a create costs no thread hand-off of its own; and the savepoint
statements share round trips (``RELEASE`` with the next ``SAVEPOINT``; the last one is
released by the commit).
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ostiary.store.db import Database, HeldConnection

MAX_BATCH = 64  # creates per transaction: bounds how long the write lock is held
# (op, its admission's result) -> the op's result; admissions run before the transaction.
Op = Callable[[Connection, Any], Any]
Admit = Callable[[], Any]
# Around a batch's operations, in its transaction: yields a list the operations append to
# (their held audit events); the entries an operation added are dropped when it rolls back.
Around = Callable[[Connection], AbstractContextManager[list[Any]]]
_SAVE, _RELEASE, _ROLLBACK = (
    "SAVEPOINT ostiary_batch",
    "RELEASE SAVEPOINT ostiary_batch",
    "ROLLBACK TO SAVEPOINT ostiary_batch",
)
_SAVE_ALL, _ROLLBACK_ALL = "SAVEPOINT ostiary_all", "ROLLBACK TO SAVEPOINT ostiary_all"
_THREADS: list[ThreadPoolExecutor] = []


def _threads() -> ThreadPoolExecutor:
    # The executor directly, not anyio's to_thread: its capacity limiter and cancel scopes
    # cost as much as a small batch's own Python (see fast_lookup).
    if not _THREADS:
        _THREADS.append(ThreadPoolExecutor(4, thread_name_prefix="scim-batch"))
    return _THREADS[0]


class Failed:
    """An operation's exception, carried back to the request that queued it."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Done:
    """An admission's own answer (a response held for approval): the op does not run."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass(slots=True)
class _Item:
    op: Op
    admit: Admit | None
    context: contextvars.Context  # the request's (its id in log lines)
    done: asyncio.Future[Any]


@contextmanager
def _nothing_held(_conn: Connection) -> Iterator[list[Any]]:
    yield []


class GroupCommit:
    def __init__(self, db: Database, around: Around = _nothing_held) -> None:
        self._db = db
        self._around = around
        # One flush at a time: on PostgreSQL the flushes share a connection while they
        # follow each other, with no pool checkout or ping per flush (see HeldConnection).
        # SQLite's pool does not ping; holding its connection made the flushes no cheaper
        # and the run slower (docs/performance.md, pgflush).
        self._begin = HeldConnection(db).begin if db.dialect == "postgresql" else db.begin
        self._pending: list[_Item] = []
        self._flusher: asyncio.Task[None] | None = None

    async def run(self, op: Op, admit: Admit | None = None) -> Any:
        """``op(conn, admitted)``'s result once its transaction committed; its exception
        (or the commit's) otherwise. ``admit()`` runs first, on the worker thread outside
        the transaction (``admitted`` is its result; None without one): an exception
        refuses the request, a :class:`Done` is returned as it is, without running ``op``."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()
        self._pending.append(_Item(op, admit, contextvars.copy_context(), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._drain())
        return await done

    async def _drain(self) -> None:
        await asyncio.sleep(0)  # let requests that are ready queue theirs first
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                results = await loop.run_in_executor(_threads(), self._write, batch)
            except Exception as exc:  # the commit failed: nothing of the batch is written
                results = [Failed(exc)] * len(batch)
            for item, result in zip(batch, results, strict=True):
                if item.done.done():  # the request was cancelled (client gone)
                    continue
                if isinstance(result, Failed):
                    item.done.set_exception(result.exc)
                else:
                    item.done.set_result(result)

    def _write(self, batch: list[_Item]) -> list[Any]:
        results: list[Any] = [_admitted(item) for item in batch]
        if all(isinstance(r, Failed | Done) for r in results):
            return results  # nobody was admitted: no transaction
        with self._begin() as conn, self._around(conn) as held:
            cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            try:
                savepoints = _Savepoints(cursor, conn.dialect.name == "postgresql", held)
                written = savepoints.together(conn, batch, results)
                if written is None:  # one raised and all rolled back: a savepoint each
                    written = [
                        r if isinstance(r, Failed | Done) else savepoints.run(conn, item, r)
                        for item, r in zip(batch, results, strict=True)
                    ]
            finally:
                cursor.close()
        return written


def _admitted(item: _Item) -> Any:
    if item.admit is None:
        return None
    try:
        return item.context.run(item.admit)
    except Exception as exc:
        return Failed(exc)


class _Savepoints:
    """A savepoint around each operation. On PostgreSQL, where each statement is a round
    trip, ``RELEASE`` travels with the next ``SAVEPOINT`` (or a failed operation's
    ``ROLLBACK TO`` with its ``RELEASE``) as one simple query, and the commit releases the
    last one. SQLite runs one statement per call."""

    def __init__(self, cursor: Any, combine: bool, held: list[Any]) -> None:
        self._cursor = cursor
        self._combine = combine
        self._held = held
        self._open = False  # an operation's savepoint that succeeded, not yet released

    def _execute(self, *statements: str) -> None:
        if self._combine:
            self._cursor.execute("; ".join(statements))
        else:
            for statement in statements:
                self._cursor.execute(statement)

    def together(
        self, conn: Connection, batch: list[_Item], admitted: list[Any]
    ) -> list[Any] | None:
        """Every operation of the batch under one savepoint: their results, or None if one
        raised, and then what all of them wrote (and their held events) is rolled back.
        Most batches have no failure, and a savepoint per operation was a round trip per
        create on PostgreSQL; after a failure the batch runs again with one each."""
        self._cursor.execute(_SAVE_ALL)
        mark = len(self._held)
        results: list[Any] = []
        for item, before in zip(batch, admitted, strict=True):
            if isinstance(before, Failed | Done):
                results.append(before)
                continue
            try:
                results.append(item.context.run(item.op, conn, before))
            except Exception:
                self._cursor.execute(_ROLLBACK_ALL)
                del self._held[mark:]
                return None
        return results

    def run(self, conn: Connection, item: _Item, admitted: Any) -> Any:
        # Savepoints at the driver: SQLAlchemy's begin_nested() costs more than the
        # create's own statements. The operation may nest savepoints of its own inside.
        self._execute(*((_RELEASE, _SAVE) if self._open else (_SAVE,)))
        self._open = False
        mark = len(self._held)
        try:
            result = item.context.run(item.op, conn, admitted)
        except Exception as exc:
            self._execute(_ROLLBACK, _RELEASE)
            del self._held[mark:]  # its audit events leave with its writes
            return Failed(exc)
        if self._combine:
            self._open = True  # released with the next SAVEPOINT, or by the commit
        else:
            self._cursor.execute(_RELEASE)
        return result
