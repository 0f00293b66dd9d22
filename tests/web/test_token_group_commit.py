"""Group commit of token-issuance audit events (issue 4 point 6, issue 5 point 1: no token
leaves without its committed audit event).

On SQLite the flush runs on the event loop and only *tries* the write lock; these tests
hold that lock from another connection (as the other granian worker does) to show that
requests wait without blocking the loop, that events arriving meanwhile join the batch,
and that a lock held past the timeout refuses the token (503) instead of issuing it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from starlette.testclient import TestClient

from ostiary.audit.events import Actor, AuditEvent
from ostiary.core.clock import FrozenClock
from ostiary.store.tables_audit import audit_events, audit_head
from ostiary.web.app import create_app
from ostiary.web.oauth.group_commit import GroupCommitAudit
from tests.support.deploy import Deployment, deploy
from tests.support.oauth import basic


@pytest.fixture
def sqlite_deployment(sqlite_url: str, tmp_path: Path) -> Iterator[Deployment]:
    dep = deploy(sqlite_url, tmp_path)
    yield dep
    dep.db.dispose()


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        action="oauth.token.issue",
        actor=Actor(kind="key", id="k", auth="client_secret_basic"),
        target_type="access_token",
        target_id=f"jti-{n}",
    )


def _committed(path: str, target_id: str) -> bool:
    """Read through a connection of its own: only committed rows are visible to it."""
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT 1 FROM audit_events WHERE target_id = ?", (target_id,))
        return row.fetchone() is not None


@contextmanager
def _write_lock(path: str) -> Iterator[None]:
    """Hold SQLite's write lock from another connection, as the other worker would."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("COMMIT")
        other.close()


def _positions(dep: Deployment) -> list[int]:
    with dep.db.read() as conn:
        return list(conn.scalars(select(audit_events.c.seq).order_by("seq")))


def _path(dep: Deployment) -> str:
    return dep.settings.database_url.split("///", 1)[1]


def test_each_append_returns_only_after_its_row_is_committed(sqlite_deployment: Deployment):
    audit = GroupCommitAudit(sqlite_deployment.db)
    path = _path(sqlite_deployment)
    seen: list[bool] = []

    async def one(n: int) -> None:
        await audit.append_async(_event(n), datetime.now(UTC))
        seen.append(_committed(path, f"jti-{n}"))

    async def main() -> None:
        await asyncio.gather(*(one(n) for n in range(40)))

    asyncio.run(main())
    assert seen == [True] * 40
    positions = _positions(sqlite_deployment)
    assert positions == list(range(positions[0], positions[0] + len(positions)))  # dense


def test_a_busy_write_lock_delays_the_batch_without_blocking_the_loop(
    sqlite_deployment: Deployment,
):
    audit = GroupCommitAudit(sqlite_deployment.db)
    path = _path(sqlite_deployment)

    def start(n: int) -> asyncio.Task[None]:
        return asyncio.create_task(audit.append_async(_event(n), datetime.now(UTC)))

    async def main() -> tuple[int, list[bool]]:
        first = [start(n) for n in range(5)]
        ticks = 0
        with _write_lock(path):
            for _ in range(20):  # the loop keeps running while the flusher waits
                await asyncio.sleep(0.005)
                ticks += 1
            late = [start(n) for n in range(5, 8)]  # queued while the lock is busy
            await asyncio.sleep(0.01)
            waiting = [not t.done() for t in first + late]
        await asyncio.gather(*first, *late)
        return ticks, waiting

    ticks, waiting = asyncio.run(main())
    assert ticks == 20
    assert waiting == [True] * 8  # nothing returned while another connection held the lock
    assert all(_committed(path, f"jti-{n}") for n in range(8))
    assert len(_positions(sqlite_deployment)) == 8


def test_a_lock_held_past_the_timeout_refuses_the_token(
    sqlite_deployment: Deployment, clock: FrozenClock
):
    """No token without its audit event: the client gets 503 temporarily_unavailable."""
    key = sqlite_deployment.make_key(["users:read"])
    app = create_app(sqlite_deployment.settings, clock=clock)
    form = {"grant_type": "client_credentials"}
    with TestClient(app, base_url="http://testserver") as client:
        app.state.oauth.audit._timeout = 0.3
        with _write_lock(_path(sqlite_deployment)):
            resp = client.post("/token", data=form, headers=basic(key.record.id, key.token))
        assert resp.status_code == 503, resp.text
        assert resp.json()["error"] == "temporarily_unavailable"
        assert "access_token" not in resp.text
        with sqlite_deployment.db.read() as conn:
            issued = conn.scalars(
                select(audit_events.c.target_id).where(audit_events.c.action == "oauth.token.issue")
            ).all()
        assert issued == []
        again = client.post("/token", data=form, headers=basic(key.record.id, key.token))
        assert again.status_code == 200, again.text
    app.state.ctx.db.dispose()


def test_a_failed_write_fails_every_waiting_request_and_releases_the_lock(
    sqlite_deployment: Deployment,
):
    audit = GroupCommitAudit(sqlite_deployment.db)
    with sqlite_deployment.db.begin() as conn:
        head = conn.execute(select(audit_head)).one()
        conn.execute(delete(audit_head))  # the append refuses a log without its head

    async def main() -> list[BaseException | None]:
        calls = [audit.append_async(_event(n), datetime.now(UTC)) for n in range(3)]
        return await asyncio.gather(*calls, return_exceptions=True)

    results = asyncio.run(main())
    assert all(isinstance(r, Exception) for r in results)
    assert _positions(sqlite_deployment) == []
    with sqlite_deployment.db.begin() as conn:  # not left inside a transaction
        conn.execute(audit_head.insert().values(**head._mapping))
    asyncio.run(audit.append_async(_event(9), datetime.now(UTC)))
    assert _committed(_path(sqlite_deployment), "jti-9")


def test_the_try_leaves_the_connections_busy_timeout_as_it_was(sqlite_deployment: Deployment):
    """Other users of the pooled connection still queue on the busy timeout (store.db)."""
    audit = GroupCommitAudit(sqlite_deployment.db)
    asyncio.run(audit.append_async(_event(1), datetime.now(UTC)))
    with sqlite_deployment.db.engine.connect() as conn:  # LIFO pool: the flusher's connection
        waits = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
    assert waits == 10_000
