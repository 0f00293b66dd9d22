"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from ostiary.store import migrate
from ostiary.store.db import Database
from ostiary.store.errors import NotMigrated
from ostiary.store.schema import metadata


def test_migrated_schema_matches_tables(database_url: str):
    db = Database(database_url, pool_size=1)
    try:
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), metadata)
        assert diff == []
        assert migrate.current_revision(db) == migrate.head_revision()
    finally:
        db.dispose()


def test_unmigrated_database_is_refused_with_a_clear_message(database_url: str):
    db = Database(database_url, pool_size=1)
    try:
        with pytest.raises(NotMigrated, match="run 'ostiary migrate'"):
            migrate.ensure_current(db)
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(sqlite_url: str):
    db = Database(sqlite_url, pool_size=1)
    try:
        with db.read() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        db.dispose()
