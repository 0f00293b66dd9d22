"""Many users in a few statements: the batched path of a SCIM Bulk request.

Beside :class:`~ostiary.store.repositories.users.UserRepository` (one user per call, the
single-request path) rather than in it: a Bulk request of 200 creates used to cost about
ten round trips per user; here the uniqueness check is one ``IN`` query for the whole
batch and the inserts are one multi-row statement per table (SQLAlchemy's
"insertmanyvalues" on PostgreSQL, ``executemany`` on SQLite).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, insert, select

from ostiary.directory.models import User
from ostiary.store.repositories.users import _columns, _email_rows
from ostiary.store.tables import user_emails, users

# Keys per IN list: well under every driver's bind-parameter limit.
_CHUNK = 1000


def _chunks(values: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def taken_user_names(conn: Connection, keys: Iterable[str]) -> set[str]:
    """The ``user_name_key`` values among ``keys`` that a stored user already has."""
    wanted = sorted(set(keys))
    found: set[str] = set()
    for part in _chunks(wanted):
        stmt = select(users.c.user_name_key).where(users.c.user_name_key.in_(part))
        found.update(conn.execute(stmt).scalars())
    return found


def existing_user_ids(conn: Connection, ids: Iterable[str]) -> set[str]:
    wanted = sorted(set(ids))
    found: set[str] = set()
    for part in _chunks(wanted):
        found.update(conn.execute(select(users.c.id).where(users.c.id.in_(part))).scalars())
    return found


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
