"""What a group commit's flush costs besides its creates (issue 8 point 8, issue 3 point 10).

The creates of a batch share a transaction (``ostiary.web.scim.batch``); these tests pin
down the per-batch work that replaced per-create work, and that it keeps each create's
behaviour (RFC 7644 section 3.3: a 201 only once the user and its audit event are
committed; section 3.12: a failed create writes nothing):

- the batch's audit events are appended together, once, before its commit
  (``web.scim.call.held_events``), and a create rolled back to its savepoint leaves none;
- consecutive flushes reuse one connection without a pool checkout (and its pre-ping)
  each (``store.db.HeldConnection``), and a held connection whose backend was terminated
  in between is not used: the next batch commits on a new one, no 5xx.
"""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from sqlalchemy import Connection, event, func, select
from starlette.applications import Starlette

from ostiary.core.clock import FrozenClock
from ostiary.store import bootstrap
from ostiary.store.db import HeldConnection
from ostiary.store.repositories.audit_integrity import Integrity
from ostiary.store.tables import users
from ostiary.web.app import create_app
from ostiary.web.scim import call as scim_call
from tests.support.deploy import Deployment
from tests.web.test_scim_group_commit import _created_events, _post_all, _user


@pytest.fixture
def app(deployment: Deployment, clock: FrozenClock) -> Any:
    made = create_app(deployment.settings, clock=clock)
    yield made
    made.state.ctx.db.dispose()


def _verifies(dep: Deployment) -> bool:
    vault = bootstrap.open_vault(dep.settings, dep.db)
    with dep.db.read() as conn:
        return Integrity(conn, vault).verify().ok


def test_a_batch_appends_its_audit_events_together(
    app: Starlette, deployment: Deployment, monkeypatch: pytest.MonkeyPatch
):
    appended: list[int] = []
    real = scim_call.append_prepared  # what the batch's held_events appends with

    def spy(conn: Connection, prepared: list[Any]) -> list[str]:
        appended.append(len(prepared))
        return real(conn, prepared)

    monkeypatch.setattr(scim_call, "append_prepared", spy)
    token = deployment.make_key().token
    bodies = [_user(f"u{i}@example.com") for i in range(12)]
    bodies[7] = _user("U2@example.com")  # the userName of bodies[2]: one of them is a 409
    replies = _post_all(app, token, bodies)
    statuses = [r.status_code for r in replies]
    assert sorted(statuses) == [201] * 11 + [409]
    created = {r.json()["id"] for r in replies if r.status_code == 201}
    assert set(_created_events(deployment)) == created  # one event each, none for the 409
    assert sum(appended) == 11 and len(appended) < 11  # appended per batch, not per create
    assert _verifies(deployment)


def _rounds(app: Starlette, token: str, tag: str, rounds: int) -> list[int]:
    statuses: list[int] = []
    for n in range(rounds):
        bodies = [_user(f"{tag}{n}-{i}@example.com") for i in range(4)]
        statuses += [r.status_code for r in _post_all(app, token, bodies)]
    return statuses


@pytest.mark.postgres
def test_flushes_share_a_connection_without_a_checkout_each(
    pg_deployment: Deployment, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
):
    """PostgreSQL only: SQLite's pool does not ping, and its flushes check out as before."""
    monkeypatch.setattr(HeldConnection, "FRESH", 60.0)  # however slow the machine is today
    app = create_app(pg_deployment.settings, clock=clock)
    token = pg_deployment.make_key().token
    checkouts: list[int] = []
    try:
        assert _rounds(app, token, "warm", 1) == [201] * 4  # the key cached, a connection held
        event.listen(app.state.ctx.db.engine, "checkout", lambda *_: checkouts.append(1))
        assert _rounds(app, token, "r", 5) == [201] * 20
        assert checkouts == []  # five flushes (or more), no checkout and so no pre-ping
    finally:
        app.state.ctx.db.dispose()


def _terminate_backends(database: str) -> None:
    """End every backend serving ``database`` (the app's pool, the held connection) and
    wait until they are gone: a server restart or an administrator's kill between two
    flushes."""
    admin = "postgresql://postgres@127.0.0.1:5432/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        pids = [pid for (pid,) in conn.execute(query, (database,))]
        assert pids
        for pid in pids:
            conn.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,))
        deadline = time.monotonic() + 10
        while conn.execute(query, (database,)).fetchall():
            assert time.monotonic() < deadline
            time.sleep(0.02)


@pytest.mark.postgres
def test_a_terminated_held_connection_is_not_used(
    tmp_path: Any, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
):
    """The held connection is reused without a ping: its backend terminated between two
    flushes (pg_terminate_backend) must be noticed before the next batch is sent on it.
    Every create of the next batch is a 201, committed with its audit event."""
    from tests.support.deploy import deploy
    from tests.support.services import scratch_postgres_database

    monkeypatch.setattr(HeldConnection, "FRESH", 60.0)  # only the liveness check can save it
    with scratch_postgres_database() as url:
        dep = deploy(url, tmp_path)
        app = create_app(dep.settings, clock=clock)
        try:
            token = dep.make_key().token
            assert _rounds(app, token, "before", 2) == [201] * 8
            _terminate_backends(url.rpartition("/")[2])
            assert _rounds(app, token, "after", 2) == [201] * 8
            with dep.db.read() as conn:
                assert conn.execute(select(func.count()).select_from(users)).scalar() == 16
            assert len(_created_events(dep)) == 16
            assert _verifies(dep)
        finally:
            app.state.ctx.db.dispose()
            dep.db.dispose()


def test_a_batch_without_failure_takes_one_savepoint(tmp_path: Any, clock: FrozenClock):
    """The creates of a batch run under one savepoint; a savepoint each (a round trip per
    create on PostgreSQL) only after one of them failed. SQLite's statement trace shows
    what the batch sent; the failure path is the tests above (a 409 fails alone)."""
    from tests.support.deploy import deploy

    dep = deploy(f"sqlite:///{tmp_path / 'trace.db'}", tmp_path)
    app = create_app(dep.settings, clock=clock)
    sent: list[str] = []
    event.listen(
        app.state.ctx.db.engine,
        "checkout",
        lambda dbapi, _record, _proxy: dbapi.set_trace_callback(sent.append),
    )
    try:
        token = dep.make_key().token
        replies = _post_all(app, token, [_user(f"t{i}@example.com") for i in range(10)])
        assert [r.status_code for r in replies] == [201] * 10
        inserts = [s for s in sent if s.startswith("INSERT INTO users")]
        savepoints = [s for s in sent if s.startswith("SAVEPOINT")]
        assert len(inserts) == 10
        assert 1 <= len(savepoints) < 10  # one per batch, not one per create
    finally:
        app.state.ctx.db.dispose()
        dep.db.dispose()


def test_an_invalid_create_in_a_batch_fails_alone(app: Starlette, deployment: Deployment):
    """A create refused by validation (RFC 7644 section 3.3: userName is required; 400
    invalidValue) rolls the batch back to its savepoint and the batch runs again, a
    savepoint each: the others are written once, with one audit event each."""
    token = deployment.make_key().token
    bodies: list[dict[str, Any]] = [_user(f"v{i}@example.com") for i in range(6)]
    bodies[4] = {"schemas": bodies[0]["schemas"], "emails": [{"value": "x@example.com"}]}
    replies = _post_all(app, token, bodies)
    assert [r.status_code for r in replies] == [201, 201, 201, 201, 400, 201]
    assert replies[4].json()["status"] == "400"
    created = {r.json()["id"] for r in replies if r.status_code == 201}
    with deployment.db.read() as conn:
        assert set(conn.execute(select(users.c.id)).scalars()) == created
    assert sorted(_created_events(deployment)) == sorted(created)
    assert _verifies(deployment)
