"""Many users in a few statements: the batched path of a SCIM Bulk request.

Beside :class:`~ostiary.store.repositories.users.UserRepository` (one user per call, the
single-request path) rather than in it: a Bulk request of 200 creates used to cost about
ten round trips per user; here the uniqueness check is one query for the whole batch
(:mod:`~ostiary.store.repositories.probe`) and the inserts are one multi-row statement
per table (SQLAlchemy's "insertmanyvalues" on PostgreSQL, ``executemany`` on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert

from ostiary.directory.models import User
from ostiary.store.repositories.probe import present
from ostiary.store.repositories.users import _columns, _email_rows
from ostiary.store.tables import user_emails, users


def taken_user_names(conn: Connection, keys: Iterable[str]) -> set[str]:
    """The ``user_name_key`` values among ``keys`` that a stored user already has."""
    return present(conn, users, "user_name_key", keys)


def existing_user_ids(conn: Connection, ids: Iterable[str]) -> set[str]:
    return present(conn, users, "id", ids)


def add_users(conn: Connection, batch: list[User]) -> None:
    """Insert ``batch`` (already checked for uniqueness). A constraint that still fails
    (a concurrent writer took a userName) raises ``IntegrityError``: the caller runs the
    batch inside a savepoint and falls back to one user at a time."""
    if not batch:
        return
    conn.execute(
        insert(users),
        [_columns(u) | {"id": u.id, "created_at": u.created_at} for u in batch],
    )
    emails = [row for u in batch for row in _email_rows(u)]
    if emails:
        conn.execute(insert(user_emails), emails)
