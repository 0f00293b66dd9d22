"""Migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from ostiary.store import migrate
from ostiary.store.db import Database
from ostiary.store.errors import NotMigrated
from ostiary.store.schema import metadata
from ostiary.store.tables_scim_query import PG_ONLY_INDEXES
from tests.support.deploy import downgrade


def _declared(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Everything but the PostgreSQL-only expression indexes (migration 0022), which the
    metadata cannot declare for both engines; the test below checks they exist."""
    return not (type_ == "index" and name in PG_ONLY_INDEXES)


def test_migrated_schema_matches_tables(database_url: str):
    db = Database(database_url, pool_size=1)
    try:
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"include_object": _declared})
            diff = compare_metadata(context, metadata)
            indexes = {
                i["name"]
                for table in ("user_name_search", "user_email_search")
                for i in inspect(conn).get_indexes(table)
            }
        assert diff == []
        pg = database_url.startswith("postgresql")
        assert (indexes & PG_ONLY_INDEXES) == (PG_ONLY_INDEXES if pg else set())
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


def test_0020_keeps_one_email_row_per_user_and_position(database_url: str):
    """Migration 0020 (SCIM search's owner count, RFC 7644 section 3.4.2.4 totalResults):
    upgrading from 0019 with users' addresses in place keeps them, and a second row at a
    taken (user, position) is refused on both engines."""
    from datetime import UTC, datetime

    from sqlalchemy import func, insert, select
    from sqlalchemy.exc import IntegrityError

    from ostiary.store.tables import user_emails, users

    when = datetime(2026, 1, 1, tzinfo=UTC)
    db = Database(database_url, pool_size=1)
    try:
        migrate.upgrade(db, "0019")
        with db.engine.begin() as conn:
            for uid in ("u1", "u2"):
                conn.execute(
                    insert(users),
                    {
                        "id": uid,
                        "user_name": uid,
                        "user_name_key": uid,
                        "active": True,
                        "doc": {},
                        "version": 1,
                        "created_at": when,
                        "updated_at": when,
                    },
                )
            for uid, position in (("u1", 0), ("u1", 1), ("u2", 0)):
                email = {"user_id": uid, "position": position, "value": "x", "value_key": "x"}
                conn.execute(insert(user_emails), email)
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(user_emails)).scalar() == 3
        taken = {"user_id": "u1", "position": 1, "value": "y", "value_key": "y"}
        with pytest.raises(IntegrityError), db.engine.begin() as conn:
            conn.execute(insert(user_emails), taken)
    finally:
        db.dispose()


def test_0021_fills_the_search_copies_and_downgrades(database_url: str):
    """Migration 0021 (issue 3 point 10, substring search): upgrading from 0020 with users
    and addresses in place fills the PostgreSQL search copies (every user's userName key;
    each user's address keys in position order, joined by U+001F; no row for a user
    without addresses); on SQLite they stay empty. Downgrading removes them and brings
    back the users trigram index."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from ostiary.store.tables import user_emails, users
    from ostiary.store.tables_scim_query import user_email_search, user_name_search

    when = datetime(2026, 1, 1, tzinfo=UTC)
    db = Database(database_url, pool_size=1)
    try:
        migrate.upgrade(db, "0020")
        with db.engine.begin() as conn:
            for uid in ("u1", "u2"):
                row = {"id": uid, "user_name": uid.upper(), "user_name_key": uid, "doc": {}}
                row |= {"created_at": when, "updated_at": when, "active": True, "version": 1}
                conn.execute(insert(users), row)
            for position, key in ((1, "b@x"), (0, "a@x")):
                email = {"user_id": "u1", "position": position, "value": key, "value_key": key}
                conn.execute(insert(user_emails), email)
        migrate.upgrade(db)
        pg = db.engine.dialect.name == "postgresql"
        with db.engine.connect() as conn:
            names = set(conn.execute(select(user_name_search)).all())
            emails = set(conn.execute(select(user_email_search)).all())
        assert names == ({("u1", "u1"), ("u2", "u2")} if pg else set())
        assert emails == ({("u1", "a@x\x1fb@x")} if pg else set())
        downgrade(db, "0020")
        with db.engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            indexes = {i["name"] for i in inspect(conn).get_indexes("users")}
        assert not tables & {"user_name_search", "user_email_search"}
        assert "ix_users_user_name_key_trgm" in indexes
    finally:
        db.dispose()


def test_0022_counts_the_domains_and_downgrades(database_url: str):
    """Migration 0022 (issue 3 point 10, dense substring counts): upgrading from 0021 with
    users and addresses in place counts each copy's rows per domain signature (folded,
    no deltas) on PostgreSQL, nothing on SQLite; downgrading drops the counts and gives the
    copies back their 0021 functions, which still keep them (a later create shows)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from ostiary.store.tables import user_emails, users
    from ostiary.store.tables_scim_query import scim_domain_counts, user_name_search

    when = datetime(2026, 1, 1, tzinfo=UTC)

    def add_user(conn: Any, uid: str, key: str) -> None:
        row = {"id": uid, "user_name": key, "user_name_key": key, "doc": {}}
        row |= {"created_at": when, "updated_at": when, "active": True, "version": 1}
        conn.execute(insert(users), row)

    db = Database(database_url, pool_size=1)
    try:
        migrate.upgrade(db, "0021")
        with db.engine.begin() as conn:
            for uid, key in (("u1", "a@x.org"), ("u2", "b@x.org"), ("u3", "plain")):
                add_user(conn, uid, key)
            for position, key in ((1, "b@y.net"), (0, "a@x.org")):
                email = {"user_id": "u1", "position": position, "value": key, "value_key": key}
                conn.execute(insert(user_emails), email)
        migrate.upgrade(db)
        pg = db.engine.dialect.name == "postgresql"
        c = scim_domain_counts.c
        with db.engine.connect() as conn:
            counts = set(conn.execute(select(c.copy, c.domains, c.n)).all())
        want = {(1, "x.org", 2), (1, "", 1), (2, "x.org\x1fy.net", 1)}
        assert counts == (want if pg else set())
        downgrade(db, "0021")
        with db.engine.begin() as conn:
            tables = set(inspect(conn).get_table_names())
            assert not tables & {"scim_domain_counts", "scim_domain_deltas"}
            add_user(conn, "u4", "d@z.org")
            names = set(conn.execute(select(user_name_search.c.id)).scalars())
        assert names == ({"u1", "u2", "u3", "u4"} if pg else set())
    finally:
        db.dispose()


def test_0023_indexes_the_reversed_local_parts_and_downgrades(database_url: str):
    """Migration 0023 (issue 3 point 10, ``co``/``ew`` needles holding one ``@``): upgrading
    from 0022 with users in place builds, on PostgreSQL, each copy's reversed local-part
    B-tree (keys with one ``@`` only) and the other keys' trigram index, which a search
    then uses with the evaluator's answer; nothing on SQLite. Downgrading drops them and
    their functions, and the searches still answer (the 0022 way)."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, text

    from ostiary.scim.filter import bind
    from ostiary.scim.filter_schema import USER
    from ostiary.store.repositories.scim_search import Query, ScimSearch
    from ostiary.store.tables import users

    when = datetime(2026, 1, 1, tzinfo=UTC)
    names = {"u1": "ann49@x.org", "u2": "bob@x.org", "u3": "a@b49@x.org", "u4": "plain49"}
    made = ("ix_user_name_search_local_rev", "ix_user_name_search_many_ats_trgm")
    db = Database(database_url, pool_size=1)
    try:
        migrate.upgrade(db, "0022")
        with db.engine.begin() as conn:
            for uid, key in names.items():
                row = {"id": uid, "user_name": key, "user_name_key": key, "doc": {}}
                row |= {"created_at": when, "updated_at": when, "active": True, "version": 1}
                conn.execute(insert(users), row)
        migrate.upgrade(db)
        pg = db.engine.dialect.name == "postgresql"

        def state() -> tuple[set[str], list[str]]:
            with db.engine.connect() as conn:
                indexes = {i["name"] for i in inspect(conn).get_indexes("user_name_search")}
                q = Query(filter=bind('userName co "49@x.org"', USER))
                found = [r.id for r in ScimSearch(conn, "User").run(q).rows]
            return indexes & set(made), found

        assert state() == ((set(made) if pg else set()), ["u1", "u3"])
        if pg:
            with db.engine.connect() as conn:
                one_at = (
                    "SELECT count(*) FROM user_name_search WHERE scim_key_one_at(user_name_key)"
                )
                entries = conn.execute(text(one_at)).scalar()
            assert entries == 2  # ann49@x.org and bob@x.org
        downgrade(db, "0022")
        with db.engine.connect() as conn:
            indexes = {i["name"] for i in inspect(conn).get_indexes("user_name_search")}
            assert not indexes & set(made)
            if pg:  # this code's searches need 0023: only the functions are checked
                left = "SELECT count(*) FROM pg_proc WHERE proname IN ('scim_key_one_at',"
                left += " 'scim_key_many_ats')"
                assert conn.execute(text(left)).scalar() == 0
    finally:
        db.dispose()


def test_0024_drops_the_audit_copies_and_downgrades(database_url: str):
    """Migration 0024 (issue 5 point 6): audit_events no longer repeats the entry's
    outcome, actor kind, target type, request id and source IP; downgrading brings the
    columns back filled from each entry, and upgrading again drops them."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from ostiary.audit.events import SYSTEM, Actor, AuditEvent, RequestInfo
    from ostiary.store.repositories.audit import AuditLog

    dropped = ["outcome", "actor_kind", "target_type", "request_id", "source_ip"]
    when = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        AuditEvent(
            "test.one",
            Actor("key", "k1", "bearer_key", 2),
            "denied",
            "User",
            "u1",
            RequestInfo("192.0.2.1", "ua", "r1"),
        ),
        AuditEvent("test.two", SYSTEM),  # no target, no request facts
    ]
    db = Database(database_url, pool_size=1)
    try:
        migrate.upgrade(db)
        with db.engine.begin() as conn:
            AuditLog(conn).append_many([(e, when) for e in events])
        downgrade(db, "0023")
        with db.engine.connect() as conn:
            names = ", ".join(dropped)
            rows = conn.execute(text(f"SELECT {names} FROM audit_events ORDER BY seq")).all()
        assert [tuple(r) for r in rows] == [
            ("denied", "key", "User", "r1", "192.0.2.1"),
            ("success", "system", None, None, None),
        ]
        migrate.upgrade(db)
        with db.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("audit_events")}
        assert not columns & set(dropped)
    finally:
        db.dispose()


def test_0025_downgrade_brings_sqlites_lagging_head_row_up_to_date(database_url: str):
    """Migration 0025 (issue 5 point 6): since it, SQLite's appender moves ``audit_head``
    once a search batch; code before it reads the row as the exact head, so downgrading
    writes the newest event's position and leaf hash into it."""
    from datetime import UTC, datetime

    from sqlalchemy import text

    from ostiary.audit.events import SYSTEM, AuditEvent
    from ostiary.store.repositories.audit import AuditLog, AuditReader

    when = datetime(2026, 1, 1, tzinfo=UTC)
    db = Database(database_url, pool_size=1)
    try:
        migrate.upgrade(db)
        with db.engine.begin() as conn:
            AuditLog(conn).append_many([(AuditEvent(f"test.{n}", SYSTEM), when) for n in range(3)])
        with db.engine.connect() as conn:
            head = AuditReader(conn).head()
        assert head[0] == 3
        downgrade(db, "0024")
        with db.engine.connect() as conn:
            row = conn.execute(text("SELECT size, last_leaf FROM audit_head")).one()
        assert (int(row.size), bytes(row.last_leaf)) == head
        migrate.upgrade(db)
    finally:
        db.dispose()
