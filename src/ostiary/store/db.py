"""Engines and transactions for SQLite (embedded, WAL) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import select
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from ostiary.store.errors import DatabaseUnavailable

# conn.info key of the set of topics a write transaction touched (see Database.on_commit).
_TOPICS = "ostiary_commit_topics"
_ACTIONS = "ostiary_commit_actions"


def touch(conn: Connection, topic: str) -> None:
    """Say that this transaction changed ``topic``: its listeners run after the commit."""
    topics = conn.info.get(_TOPICS)
    if topics is not None:
        topics.add(topic)


def unit_token(conn: Connection) -> object | None:
    """An object that identifies the current ``begin()`` unit (a new one per
    transaction), or None outside one: a key for memos that must not outlive it."""
    return conn.info.get(_TOPICS)


def after_commit(conn: Connection, action: Callable[[], None]) -> None:
    """Run ``action`` once this ``begin()`` unit commits (never if it rolls back), e.g.
    dropping a revoked key from every node's cache. ``action`` must not raise."""
    actions = conn.info.get(_ACTIONS)
    if actions is None:  # not inside Database.begin(): nothing to wait for
        action()
    else:
        actions.append(action)


def when_committed(conn: Connection, action: Callable[[], None]) -> bool:
    """Run ``action`` once this ``begin()`` unit commits (never if it rolls back), after
    the connection is released; False (and never run) outside a ``begin()`` unit, where
    no commit is awaited. ``action`` must not raise."""
    actions = conn.info.get(_ACTIONS)
    if actions is None:
        return False
    actions.append(action)
    return True


@contextmanager
def unprepared(conn: Connection) -> Iterator[None]:
    """Statements run inside are never prepared server-side (PostgreSQL; a no-op elsewhere).

    psycopg prepares a statement after its fifth execution, and PostgreSQL may then plan it
    once for any parameter value (a generic plan). For ``LIKE :pattern`` that plan cannot
    use the prefix range or judge the trigram index by the pattern: the substring searches
    took 40-50 ms prepared against 4-11 ms unprepared (docs/performance.md)."""
    dbapi: Any = conn.connection.dbapi_connection
    if not hasattr(dbapi, "prepare_threshold"):
        yield
        return
    saved = dbapi.prepare_threshold
    dbapi.prepare_threshold = None
    try:
        yield
    finally:
        dbapi.prepare_threshold = saved


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _sqlite_path(url: str) -> Path | None:
    path = url.split("///", 1)[1] if "///" in url else ""
    return Path(path) if path and path != ":memory:" else None


def _on_sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; foreign keys are off by default in SQLite.
    # isolation_level=None hands transaction control to SQLAlchemy's begin() below.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    # Reads through a memory map (no copy into the page cache) and a 64 MiB page cache
    # per connection (the default is 2 MiB): index pages of a large directory stay hot.
    cur.execute("PRAGMA mmap_size=268435456")
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.close()


def _on_sqlite_begin(conn: Connection) -> None:
    # BEGIN IMMEDIATE takes the write lock up front, so two writers queue on busy_timeout
    # instead of one failing with "database is locked" when it upgrades a read lock.
    # Read-only units of work use a deferred BEGIN and never block writers (WAL).
    if conn.get_execution_options().get("ostiary_readonly"):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    if is_sqlite(url):
        path = _sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            poolclass=QueuePool,
            pool_size=pool_size,
            max_overflow=pool_size,
            # Most recently used first: the connection whose page cache is warm serves
            # the next request (FIFO rotation re-reads pages another writer touched).
            pool_use_lifo=True,
            connect_args={"check_same_thread": False, "timeout": 10},
        )
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_use_lifo=True
    )


class LookupConnections:
    """DBAPI connections for single-statement reads, in autocommit mode, outside the pool.

    A free list, not a pool: ``connection()`` pops one (or opens one, at most ``limit``)
    and pushes it back after use; both are atomic list operations under the GIL, so worker
    threads and the event loop can share it. No checkout events, no pre-ping, no reset on
    return: the caller runs one statement in autocommit mode. A connection whose use
    raised is closed, not returned (a later call opens a fresh one).
    """

    def __init__(self, engine: Engine, limit: int) -> None:
        self.engine = engine
        self.limit = limit
        self._free: list[Any] = []
        self._all: list[Any] = []
        self._lock = threading.Lock()

    @property
    def opened(self) -> int:
        return len(self._all)

    def _open(self) -> Any | None:
        with self._lock:
            if len(self._all) >= self.limit:
                return None
            fairy = self.engine.raw_connection()  # the engine's connect events (pragmas)
            fairy.detach()
            dbapi: Any = fairy.dbapi_connection
            if self.engine.dialect.name == "postgresql":
                dbapi.autocommit = True  # one statement, one snapshot, one round trip
                # These connections run only the lookup statements, whose best plan is
                # the same for any value (index probes). Left to choose, PostgreSQL
                # re-planned the batched lookup (scim_lookup_batch) on every execution:
                # the generic plan's guess of 10 unnest rows never beat the custom plans'
                # cost, and planning cost ~40% of the backend's CPU per statement.
                dbapi.execute("SET plan_cache_mode = force_generic_plan")
            self._all.append(dbapi)
            return dbapi

    @contextmanager
    def connection(self) -> Iterator[Any | None]:
        """A connection, or None when ``limit`` are in use (use the general path)."""
        try:
            conn = self._free.pop()
        except IndexError:
            conn = self._open()
        if conn is None:
            yield None
            return
        try:
            yield conn
        except BaseException:
            self._discard(conn)
            raise
        self._free.append(conn)

    def _discard(self, conn: Any) -> None:
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with suppress(Exception):  # already broken: closing is best effort
            conn.close()

    def close(self) -> None:
        with self._lock:
            conns, self._all, self._free = self._all, [], []
        for conn in conns:
            with suppress(Exception):
                conn.close()


class Database:
    """An engine plus the one way to run a unit of work: ``with db.begin() as conn``."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size)
        self._listeners: dict[str, list[Callable[[], None]]] = {}
        # Single-statement reads on the hot lookup path (store.repositories.scim_lookup).
        self.lookups = LookupConnections(self.engine, limit=pool_size)
        self.held: list[HeldConnection] = []  # released by dispose()

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def on_commit(self, topic: str, listener: Callable[[], None]) -> None:
        """Call ``listener`` after each committed ``begin()`` that touched ``topic`` (for
        example: tell the other nodes that the revocation set changed). Listeners must not
        raise; a rolled-back transaction calls none."""
        self._listeners.setdefault(topic, []).append(listener)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        after: list[Callable[[], None]] = []
        with self.engine.connect() as conn, self.unit(conn, after):
            yield conn
        for action in after:
            action()

    @contextmanager
    def unit(self, conn: Connection, after: list[Callable[[], None]]) -> Iterator[Connection]:
        """``begin()``'s unit of work on a connection the caller holds (see
        :class:`HeldConnection`). Once it committed, ``after`` holds what the caller must
        run after releasing the connection: the unit's after-commit actions, then the
        listeners of the topics it touched."""
        touched: set[str] = set()
        actions: list[Callable[[], None]] = []
        # conn.info lives with the pooled DBAPI connection: set and clear it per unit.
        conn.info[_TOPICS] = touched
        conn.info[_ACTIONS] = actions
        try:
            with conn.begin():
                yield conn
        finally:
            conn.info.pop(_TOPICS, None)
            conn.info.pop(_ACTIONS, None)
        after.extend(actions)
        after.extend(listener for t in touched for listener in self._listeners.get(t, ()))

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only unit of work: one consistent snapshot, no write lock on SQLite."""
        with self.engine.connect() as conn:
            conn = conn.execution_options(ostiary_readonly=True)
            with conn.begin():
                yield conn

    def ping(self) -> None:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except OperationalError as exc:
            raise DatabaseUnavailable(str(exc.orig).splitlines()[0]) from None

    def dispose(self) -> None:
        for held in self.held:
            held.release()
        self.lookups.close()
        self.engine.dispose()


class HeldConnection:
    """A pooled connection kept between the ``begin()`` units of one serial user (the
    SCIM group commit: one flush at a time per process) while they follow each other.

    Each checkout from the pool pings the server (``pool_pre_ping``, a round trip) and runs
    the pool's checkout and return bookkeeping: under a steady stream of creates that came
    every 4-8 creates. As HikariCP does (no validation of a connection used within the last
    500 ms), a connection used less than ``FRESH`` seconds ago is reused without a ping,
    unless its socket shows the server spoke while it was idle (see :func:`_quiet`: a
    terminated backend or a server going down sends its notice, or closes the socket, and
    that connection is discarded). One idle for longer goes back to the pool, and the next
    unit checks one out (pinged). A unit that failed releases its connection the same way.
    Not thread-safe: one unit at a time.
    """

    FRESH = 0.5

    def __init__(self, db: Database) -> None:
        self._db = db
        self._conn: Connection | None = None
        self._used = 0.0
        db.held.append(self)

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """``Database.begin()`` on the held connection."""
        conn = self._take()
        after: list[Callable[[], None]] = []
        try:
            with self._db.unit(conn, after):
                yield conn
        except BaseException:
            self.release()  # the next unit starts from the pool, pinged
            raise
        self._used = time.monotonic()
        for action in after:
            action()

    def _take(self) -> Connection:
        conn = self._conn
        if conn is not None:
            if time.monotonic() - self._used >= self.FRESH:
                self.release()
            elif _quiet(conn):
                return conn
            else:  # possibly dead: never back to the pool
                with suppress(Exception):
                    conn.invalidate()
                self.release()
        self._conn = self._db.engine.connect()  # the pool's pre-ping checks it
        return self._conn

    def release(self) -> None:
        """Give the connection back to the pool (one found dead is discarded there)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(Exception):  # a broken connection: closing is best effort
                conn.close()


def _quiet(conn: Connection) -> bool:
    """False when a held PostgreSQL connection may be dead: closed, not idle, or its socket
    readable while no query is running (the server does not speak unasked on a connection
    that does not LISTEN, except to say it is terminating it, and a closed socket reads
    EOF). One non-blocking ``poll`` instead of a round trip; the rare connection it
    cannot judge (a silent network) is no worse off than a pinged one that dies just after
    its ping. SQLite connections live in this process: always True."""
    try:
        dbapi: Any = conn.connection.dbapi_connection
        pgconn = getattr(dbapi, "pgconn", None)
        if pgconn is None:
            return True
        if dbapi.closed or dbapi.broken or pgconn.transaction_status != _PG_IDLE:
            return False
        return not _readable(pgconn.socket)
    except Exception:  # invalidated, or the socket is gone
        return False


def _readable(fd: int) -> bool:
    if hasattr(select, "poll"):  # any descriptor number (select() stops at 1024)
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


_PG_IDLE = 0  # psycopg.pq.TransactionStatus.IDLE (not imported: SQLite-only installs)
