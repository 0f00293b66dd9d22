"""A database refusing a transaction for now (deadlock, lock timeout, SQLite busy) is a
503 with Retry-After (RFC 9110 s15.6.4), not a 500: the same request can be sent again."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.requests import Request

from ostiary.store.errors import is_transient
from ostiary.web.errors import handlers
from tests.support.deploy import Deployment


def _request(path: str) -> Request:
    return Request(
        {"type": "http", "method": "PUT", "path": path, "headers": [], "query_string": b""}
    )


def test_postgres_lock_timeout_is_transient(pg_deployment: Deployment):
    engine = pg_deployment.db.engine
    with engine.connect() as holder, engine.connect() as waiter:
        holder.begin()
        holder.execute(text("LOCK TABLE users IN ACCESS EXCLUSIVE MODE"))
        waiter.begin()
        waiter.execute(text("SET LOCAL lock_timeout = '50ms'"))
        with pytest.raises(DBAPIError) as err:
            waiter.execute(text("SELECT 1 FROM users"))
        waiter.rollback()
        holder.rollback()
    assert is_transient(err.value)
    assert is_transient(err.value.orig)


def test_sqlite_busy_is_transient_and_a_constraint_error_is_not(tmp_path: Path):
    path = tmp_path / "busy.db"
    a = sqlite3.connect(path, timeout=0, isolation_level=None)
    b = sqlite3.connect(path, timeout=0, isolation_level=None)
    a.execute("CREATE TABLE t (x INTEGER UNIQUE)")
    a.execute("BEGIN IMMEDIATE")
    with pytest.raises(sqlite3.OperationalError) as busy:
        b.execute("BEGIN IMMEDIATE")
    a.execute("INSERT INTO t VALUES (1)")
    with pytest.raises(sqlite3.IntegrityError) as clash:
        a.execute("INSERT INTO t VALUES (1)")
    a.execute("ROLLBACK")
    assert is_transient(busy.value)
    assert not is_transient(clash.value)
    assert not is_transient(ValueError("database is locked"))


@pytest.mark.parametrize("path", ["/scim/v2/Users/x", "/api/v1/keys"])
def test_transient_error_renders_503_retry_after(tmp_path: Path, path: str):
    path_db = tmp_path / "busy.db"
    a = sqlite3.connect(path_db, timeout=0, isolation_level=None)
    b = sqlite3.connect(path_db, timeout=0, isolation_level=None)
    a.execute("BEGIN IMMEDIATE")
    try:
        b.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        busy = exc
    a.execute("ROLLBACK")
    resp = asyncio.run(handlers()[Exception](_request(path), busy))
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "1"
    if path.startswith("/scim/"):
        assert resp.headers["content-type"].startswith("application/scim+json")
    resp = asyncio.run(handlers()[Exception](_request(path), RuntimeError("bug")))
    assert resp.status_code == 500
