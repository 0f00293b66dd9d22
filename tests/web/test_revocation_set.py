"""The revocation set every node consults (issue 7 point 3; RFC 7009 section 2.2, RFC 9068
section 5): an in-memory copy per node, kept fresh by a Redis generation counter and a
one-second ceiling on staleness; the database when Redis is absent or down."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from ostiary.store.db import Database
from ostiary.store.repositories.revocations import TOPIC, RevocationRepository
from ostiary.web.app import create_app
from ostiary.web.oauth import revoked
from tests.support.deploy import Deployment, deploy
from tests.support.oauth import basic
from tests.support.services import require_redis


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def shared_redis() -> Iterator[tuple[redis.Redis, str]]:
    client = redis.Redis.from_url(require_redis())
    prefix = f"ostiary-test:{uuid.uuid4().hex}:"
    yield client, prefix
    for k in client.scan_iter(prefix + "*"):
        client.delete(k)
    client.close()


def _now() -> datetime:
    return datetime.now(UTC)


def _revoke(db: Database, jti: str) -> None:
    now = _now()
    with db.begin() as conn:
        RevocationRepository(conn).revoke(jti, "rp1", now + timedelta(minutes=5), now)


def _node(dep: Deployment, client: redis.Redis, prefix: str, ticks: Ticks):
    db = Database(dep.settings.database_url, pool_size=2)
    node = revoked.SharedRevocations(db, client, prefix, _now, ticks)
    db.on_commit(TOPIC, node.published)
    return db, node


@pytest.mark.redis
def test_a_revocation_on_one_node_is_seen_by_another_at_once(
    database_url: str, tmp_path: Path, shared_redis: tuple[redis.Redis, str]
):
    client, prefix = shared_redis
    dep = deploy(database_url, tmp_path)
    ticks = Ticks()  # frozen: the one-second re-read never fires, only the counter
    (db_a, a), (db_b, b) = _node(dep, client, prefix, ticks), _node(dep, client, prefix, ticks)
    try:
        assert not b.is_revoked("jti-1") and not a.is_revoked("jti-1")
        _revoke(db_a, "jti-1")  # node A commits, then bumps the generation
        assert b.is_revoked("jti-1") and a.is_revoked("jti-1")
        assert not b.is_revoked("jti-2")
        assert b.is_revoked(None)  # no jti: cannot be checked, refused
    finally:
        for db in (db_a, db_b, dep.db):
            db.dispose()


@pytest.mark.redis
def test_a_missed_generation_bump_is_stale_for_at_most_one_second(
    sqlite_url: str, tmp_path: Path, shared_redis: tuple[redis.Redis, str]
):
    """A writer that never bumps the counter (crash between commit and INCR, or a
    process without Redis): the copy still re-reads within MAX_STALE_SECONDS."""
    client, prefix = shared_redis
    dep = deploy(sqlite_url, tmp_path)
    ticks = Ticks()
    db_b, b = _node(dep, client, prefix, ticks)
    try:
        assert not b.is_revoked("jti-1")
        _revoke(dep.db, "jti-1")  # dep.db has no listener: no INCR
        assert not b.is_revoked("jti-1")  # the copy answers: no database read per check
        ticks.t += revoked.MAX_STALE_SECONDS
        assert b.is_revoked("jti-1")
    finally:
        db_b.dispose()
        dep.db.dispose()


@pytest.mark.redis
def test_a_rolled_back_revocation_bumps_nothing(
    sqlite_url: str, tmp_path: Path, shared_redis: tuple[redis.Redis, str]
):
    client, prefix = shared_redis
    dep = deploy(sqlite_url, tmp_path)
    db_a, _ = _node(dep, client, prefix, Ticks())
    try:
        with pytest.raises(RuntimeError), db_a.begin() as conn:
            RevocationRepository(conn).revoke("jti-1", "rp1", _now() + timedelta(minutes=5), _now())
            raise RuntimeError("abort")
        assert client.get(f"{prefix}revocations:generation") is None
        _revoke(db_a, "jti-2")
        assert client.get(f"{prefix}revocations:generation") == b"1"
    finally:
        db_a.dispose()
        dep.db.dispose()


def test_unreachable_redis_falls_back_to_the_database(sqlite_url: str, tmp_path: Path):
    dep = deploy(sqlite_url, tmp_path)
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    node = revoked.SharedRevocations(dep.db, down, "x:", _now, Ticks())
    try:
        assert not node.is_revoked("jti-1")
        _revoke(dep.db, "jti-1")
        assert node.is_revoked("jti-1")  # read from the database, not a stale copy
        node.published()  # logs, never raises after a commit
    finally:
        down.close()
        dep.db.dispose()


def test_without_redis_every_check_reads_the_database(sqlite_url: str, tmp_path: Path):
    dep = deploy(sqlite_url, tmp_path)
    try:
        node = revoked.build(dep.db, None, "x:", _now)
        assert isinstance(node, revoked.DbRevocations)
        assert not node.is_revoked("jti-1")
        _revoke(dep.db, "jti-1")
        assert node.is_revoked("jti-1") and node.is_revoked(42)
    finally:
        dep.db.dispose()


def test_expired_revocations_are_not_loaded(sqlite_url: str, tmp_path: Path):
    """Rows whose token has expired are never read into a node's copy (the signature
    check already refuses an expired token), so the copy stays small."""
    dep = deploy(sqlite_url, tmp_path)
    try:
        now = _now()
        with dep.db.begin() as conn:
            repo = RevocationRepository(conn)
            repo.revoke("old", "rp1", now - timedelta(seconds=1), now - timedelta(minutes=10))
            repo.revoke("live", "rp1", now + timedelta(minutes=5), now)
        with dep.db.read() as conn:
            rows = RevocationRepository(conn).unexpired(now)
            recent = RevocationRepository(conn).unexpired(now, now + timedelta(seconds=1))
        assert [jti for jti, _ in rows] == ["live"]
        assert recent == []
    finally:
        dep.db.dispose()


@pytest.mark.redis
def test_revoked_at_node_a_is_refused_by_node_b_at_scim_and_introspection_rfc7009_rfc7662(
    sqlite_url: str, tmp_path: Path, shared_redis: tuple[redis.Redis, str]
):
    """Two apps sharing one database and one Redis: a token revoked through A's /revoke
    (RFC 7009) is refused by B's SCIM at once and B's introspection says inactive."""
    _, prefix = shared_redis
    dep = deploy(sqlite_url, tmp_path, redis_url=require_redis(), key_redis_prefix=prefix)
    apps = [create_app(dep.settings), create_app(dep.settings)]
    try:
        key = dep.make_key(["users:read"])
        auth = basic(key.record.id, key.token)
        with (
            TestClient(apps[0], base_url="http://testserver") as a,
            TestClient(apps[1], base_url="http://testserver") as b,
        ):
            assert isinstance(apps[1].state.oauth.revocations, revoked.SharedRevocations)
            token = a.post("/token", data={"grant_type": "client_credentials"}, headers=auth)
            access = token.json()["access_token"]
            bearer = {"Authorization": f"Bearer {access}"}
            assert b.get("/scim/v2/Users", headers=bearer).status_code == 200
            form = {"token": access}
            assert b.post("/introspect", data=form, headers=auth).json()["active"] is True
            assert a.post("/revoke", data=form, headers=auth).status_code == 200
            assert b.get("/scim/v2/Users", headers=bearer).status_code == 401
            assert b.post("/introspect", data=form, headers=auth).json() == {"active": False}
    finally:
        for app in apps:
            app.state.ctx.db.dispose()
        dep.db.dispose()
