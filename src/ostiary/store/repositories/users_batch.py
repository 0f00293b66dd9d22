"""Many users in a few statements: the batched paths of a SCIM Bulk request.

Beside :class:`~ostiary.store.repositories.users.UserRepository` (one user per call, the
single-request path) rather than in it: a Bulk request of 200 creates used to cost about
ten round trips per user; here the uniqueness check is one query for the whole batch
(:mod:`~ostiary.store.repositories.probe`) and the inserts are one multi-row statement
per table (SQLAlchemy's "insertmanyvalues" on PostgreSQL, ``executemany`` on SQLite).
Bulk PATCHes of users read their targets in one query and write them in one
``executemany`` (pipelined by psycopg).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, bindparam, delete, insert, select, text, update

from ostiary.directory.models import User
from ostiary.store.repositories.probe import CHUNK, present
from ostiary.store.repositories.users import _columns, _email_rows, row_to_user
from ostiary.store.tables import group_members, groups, user_emails, users


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


_COLUMN_NAMES = ", ".join(c.name for c in users.columns)
# A LATERAL lookup per id, for the reason probe.py gives: planned as one unique-index
# lookup each whatever the statistics say. The rows are locked as ``UserRepository.get``
# with ``for_update`` locks them (concurrent writers queue instead of failing).
_LOCKED = text(
    f"SELECT hit.* FROM unnest(CAST(:ids AS text[])) AS k(v), LATERAL "  # noqa: S608
    f"(SELECT {_COLUMN_NAMES} FROM users WHERE id = k.v FOR UPDATE) AS hit"
).columns(*users.columns)


def users_for_update(conn: Connection, ids: Iterable[str]) -> dict[str, User]:
    """The stored users among ``ids``, by id, locked for this transaction on PostgreSQL
    (SQLite's BEGIN IMMEDIATE already serialises writers)."""
    wanted = sorted(set(ids))
    found: dict[str, User] = {}
    for i in range(0, len(wanted), CHUNK):
        part = wanted[i : i + CHUNK]
        if conn.dialect.name == "postgresql":
            rows = conn.execute(_LOCKED, {"ids": part})
        else:
            rows = conn.execute(select(users).where(users.c.id.in_(part)))
        found.update((r.id, row_to_user(r)) for r in rows)
    return found


def user_name_owner(conn: Connection, key: str) -> str | None:
    """The id of the stored user whose ``user_name_key`` is ``key``, if any."""
    return conn.execute(select(users.c.id).where(users.c.user_name_key == key)).scalar()


def groups_of_many(conn: Connection, member_ids: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """``GroupRepository.groups_of`` for many members in one query per chunk: each
    member's (group id, displayName), ordered by group id."""
    wanted = sorted(set(member_ids))
    out: dict[str, list[tuple[str, str]]] = {m: [] for m in wanted}
    for i in range(0, len(wanted), CHUNK):
        q = (
            select(group_members.c.member_id, groups.c.id, groups.c.display_name)
            .join(group_members, group_members.c.group_id == groups.c.id)
            .where(group_members.c.member_id.in_(wanted[i : i + CHUNK]))
            .order_by(group_members.c.member_id, groups.c.id)
        )
        for member, gid, name in conn.execute(q):
            out[member].append((gid, name))
    return out


# Each row names the version it expects (the one the batch read or the previous
# operation on the same user wrote), as ``UserRepository.update`` does.
_UPDATE = update(users).where(
    users.c.id == bindparam("b_id"), users.c.version == bindparam("b_version")
)


def update_users(conn: Connection, writes: list[tuple[User, int]], emails: list[User]) -> None:
    """Write each (user, expected version) in order (one executemany), then replace the
    email rows of ``emails`` (their final state). Raises ``StaleBatch`` when a row was
    not at its expected version (nothing can change them under the batch's locks, so
    this is a bug or a concurrent writer: the caller rolls back and goes one at a time)."""
    if writes:
        rows = [_columns(u) | {"b_id": u.id, "b_version": v} for u, v in writes]
        done = conn.execute(_UPDATE, rows).rowcount
        if conn.dialect.supports_sane_multi_rowcount and done != len(rows):
            raise StaleBatch(f"{done} of {len(rows)} user rows were at their expected version")
    if emails:
        ids = [u.id for u in emails]
        for i in range(0, len(ids), CHUNK):
            conn.execute(delete(user_emails).where(user_emails.c.user_id.in_(ids[i : i + CHUNK])))
        rows = [row for u in emails for row in _email_rows(u)]
        if rows:
            conn.execute(insert(user_emails), rows)


class StaleBatch(Exception):
    """A batched update found a row that was not at the version it read."""
