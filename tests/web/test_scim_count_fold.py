"""The per-domain count deltas are folded in ``serve`` (issue 3 point 10; migration 0022):
every few seconds, and at once when a dense count read more unfolded deltas than
``domain_counts.FOLD_SOON_ROWS`` (each count scans them all)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import func, select

from ostiary.directory.models import User
from ostiary.store import domain_counts
from ostiary.store.db import Database
from ostiary.store.repositories.users import UserRepository
from ostiary.store.tables_scim_query import scim_domain_deltas, user_name_search
from ostiary.web.scim.count_fold import CountFolder
from tests.support.directory import EPOCH, seeded
from tests.support.services import scratch_postgres_database


@pytest.fixture
def pg_db() -> Any:
    with scratch_postgres_database() as url:
        db, _docs = seeded(url, [("u-1", "one@example.com", {})])
        yield db
        db.dispose()


def _deltas(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(scim_domain_deltas)).scalar_one())


def _add(db: Database, user_id: str) -> None:
    user = User(id=user_id, user_name=f"{user_id}@example.com", doc={}, created_at=EPOCH)
    user.updated_at = EPOCH
    with db.begin() as conn:
        UserRepository(conn).add(user)


@pytest.mark.postgres
def test_a_count_over_many_deltas_wakes_the_folder(pg_db: Database, monkeypatch: Any):
    monkeypatch.setattr(domain_counts, "FOLD_SOON_ROWS", 0)  # every delta is "many"
    domain_counts.FOLD_WANTED.clear()
    folder = CountFolder(pg_db, every=3600.0)  # its own turn would come in an hour
    folder.start()
    try:
        _add(pg_db, "u-2")
        assert _deltas(pg_db) == 2  # the seeded user's and this one's userName
        with pg_db.read() as conn:
            assert domain_counts.count(conn, user_name_search.c.user_name_key, "example.c") == 2
        deadline = time.monotonic() + 10
        while _deltas(pg_db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _deltas(pg_db) == 0
        with pg_db.read() as conn:
            assert domain_counts.count(conn, user_name_search.c.user_name_key, "example.c") == 2
    finally:
        folder.stop()


@pytest.mark.postgres
def test_the_folder_folds_on_its_own_turn(pg_db: Database):
    domain_counts.FOLD_WANTED.clear()
    _add(pg_db, "u-2")
    folder = CountFolder(pg_db, every=0.1)
    folder.start()
    try:
        deadline = time.monotonic() + 10
        while _deltas(pg_db) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _deltas(pg_db) == 0
    finally:
        folder.stop()


@pytest.mark.postgres
def test_a_bloated_delta_table_counts_the_plain_way(pg_db: Database, monkeypatch: Any):
    """Deltas a fold cannot free yet (an old snapshot holds them) would make each count
    scan them all: past ``DELTA_PAGES_MAX`` the count is the plain one (still exact)."""
    from ostiary.scim.filter import bind
    from ostiary.scim.filter_schema import USER
    from ostiary.store.repositories.scim_search import ScimSearch

    monkeypatch.setattr(domain_counts, "DELTA_PAGES_MAX", 0)
    domain_counts.FOLD_WANTED.clear()
    _add(pg_db, "u-2")
    node = bind('userName co "example.c"', USER)
    with pg_db.read() as conn:
        assert domain_counts.count(conn, user_name_search.c.user_name_key, "example.c") is None
        search = ScimSearch(conn, "User")
        assert search.count(search.tr.where(node), node) == 2
    assert domain_counts.FOLD_WANTED.is_set()
