"""User persistence: indexed columns, the JSON document, and the email rows filters use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from ostiary.core.clock import as_utc
from ostiary.directory.errors import UniquenessConflict, UserNotFound, VersionConflict
from ostiary.directory.models import User
from ostiary.store.tables import group_members, user_emails, users


def _email_rows(user: User) -> list[dict[str, Any]]:
    rows = []
    for position, email in enumerate(user.doc.get("emails") or []):
        value = email.get("value") if isinstance(email, dict) else None
        if not value:
            continue
        rows.append(
            {
                "user_id": user.id,
                "position": position,
                "value": value,
                "value_key": value.casefold(),
                "type": email.get("type"),
                "primary": bool(email.get("primary")),
            }
        )
    return rows


def _columns(user: User) -> dict[str, Any]:
    return {
        "user_name": user.user_name,
        "user_name_key": user.user_name_key,
        "external_id": user.external_id,
        "display_name": user.display_name,
        "given_name": user.given_name,
        "family_name": user.family_name,
        "active": user.active,
        "doc": user.doc,
        "password_hash": user.password_hash,
        "version": user.version,
        "updated_at": user.updated_at,
    }


def row_to_user(r: Row[Any]) -> User:
    doc = r.doc or {}
    return User(
        id=r.id,
        user_name=r.user_name,
        active=r.active,
        external_id=r.external_id,
        display_name=r.display_name,
        given_name=r.given_name,
        family_name=r.family_name,
        emails=[
            e["value"] for e in doc.get("emails") or [] if isinstance(e, dict) and "value" in e
        ],
        doc=doc,
        password_hash=r.password_hash,
        version=r.version,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


# Built once (the update path's uniqueness check): building it per call coerced every
# value through SQLAlchemy's expression system, which cost more than executing it.
_TAKEN = select(users.c.id).where(
    users.c.user_name_key == bindparam("key"), users.c.id != bindparam("id")
)
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"  # how the UtcDateTime column stores times on SQLite
_USER_COLUMNS = (
    "id, user_name, user_name_key, external_id, display_name, given_name, family_name, "
    "active, doc, password_hash, version, created_at, updated_at"
)
_EMAIL_BATCH = 500
_EMAIL_COLUMNS = 'user_id, position, value, value_key, type, "primary"'


def _insert_sql(mark: str, json_mark: str) -> tuple[str, str]:
    """The user INSERT, and one row of the multi-row email INSERT (placeholders only)."""
    values = [mark] * 13
    values[8] = json_mark  # doc
    user = f"INSERT INTO users ({_USER_COLUMNS}) VALUES ({', '.join(values)})"  # noqa: S608
    return user, f"({', '.join([mark] * 6)})"


def _email_insert(row: str, n: int) -> str:
    """The multi-row email INSERT for ``n`` rows (``row``: one row's placeholders)."""
    return f"INSERT INTO user_emails ({_EMAIL_COLUMNS}) VALUES {', '.join([row] * n)}"  # noqa: S608


# A create runs these on every POST /Users, so they go to the driver directly (as the audit
# append does): through SQLAlchemy the statements cost more than SQLite's work.
_INSERT = {"sqlite": _insert_sql("?", "?"), "postgresql": _insert_sql("%s", "CAST(%s AS JSONB)")}


def _when(at: datetime | None, dialect: str) -> Any:
    """A bind value as the UtcDateTime column type would write it."""
    if at is None:
        return None
    at = as_utc(at)
    return at.replace(tzinfo=None).strftime(_SQLITE_TIME) if dialect == "sqlite" else at


def _is_user_name_taken(exc: Exception) -> bool:
    # SQLite: "UNIQUE constraint failed: users.user_name_key"; PostgreSQL names the
    # constraint (uq_users_user_name_key).
    return "user_name_key" in str(exc)


def _is_unique_violation(exc: Exception) -> bool:
    # Another unique index (one an operator added, say on externalId) is still a clash
    # with a stored user, so 409 uniqueness rather than a 500. SQLite says so in the
    # message; psycopg carries SQLSTATE 23505 (unique_violation). Other integrity errors
    # (NOT NULL, foreign keys) are bugs: re-raised.
    return getattr(exc, "sqlstate", None) == "23505" or "UNIQUE constraint failed" in str(exc)


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _uniqueness(self, user: User) -> None:
        params = {"key": user.user_name_key, "id": user.id}
        if self._conn.execute(_TAKEN, params).first() is not None:
            raise UniquenessConflict(f"userName {user.user_name!r} is already taken")

    def add(self, user: User) -> None:
        """Insert a new user and its email rows: one statement on PostgreSQL (the email
        rows ride with the user's INSERT in a data-modifying WITH; the foreign key is
        checked at the statement's end), two on SQLite. The unique index on
        ``user_name_key`` is the uniqueness check (no read first, no savepoint): a taken
        userName fails the insert, and the caller's transaction or savepoint (a Bulk
        operation's) rolls back whole, which PostgreSQL requires after an error anyway."""
        dialect = self._conn.dialect.name
        user_sql, email_row = _INSERT[dialect]
        user_row, rows = self._user_row(user, dialect), _email_rows(user)
        values = [v for r in rows for v in r.values()]  # in _EMAIL_COLUMNS order
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if rows and dialect == "postgresql" and len(rows) <= _EMAIL_BATCH:
                sql = f"WITH u AS ({user_sql}) {_email_insert(email_row, len(rows))}"
                self._insert_user(cursor, user, sql, (*user_row, *values))
                return
            self._insert_user(cursor, user, user_sql, user_row)
            # One statement for up to _EMAIL_BATCH rows (SQLite caps a statement's
            # parameters).
            width = len(values) // len(rows) if rows else 0
            for start in range(0, len(rows), _EMAIL_BATCH):
                chunk = values[start * width : (start + _EMAIL_BATCH) * width]
                cursor.execute(_email_insert(email_row, len(chunk) // width), chunk)
        finally:
            cursor.close()

    def _insert_user(self, cursor: Any, user: User, sql: str, params: Any) -> None:
        """Run the statement that inserts the user row: a taken userName (or another
        unique value) is a :class:`UniquenessConflict`."""
        try:
            cursor.execute(sql, params)
        except self._conn.dialect.loaded_dbapi.IntegrityError as exc:
            if _is_user_name_taken(exc):
                raise UniquenessConflict(f"userName {user.user_name!r} is already taken") from None
            if _is_unique_violation(exc):
                raise UniquenessConflict("a value that must be unique is already taken") from None
            raise

    @staticmethod
    def _user_row(user: User, dialect: str) -> tuple[Any, ...]:
        return (
            user.id,
            user.user_name,
            user.user_name_key,
            user.external_id,
            user.display_name,
            user.given_name,
            user.family_name,
            user.active,
            orjson.dumps(user.doc).decode(),
            user.password_hash,
            user.version,
            _when(user.created_at, dialect),
            _when(user.updated_at, dialect),
        )

    def get(self, user_id: str, *, for_update: bool = False) -> User | None:
        """``for_update`` locks the row on PostgreSQL so concurrent writers queue instead of
        failing the version check (SQLite's BEGIN IMMEDIATE already serialises writers)."""
        stmt = select(users).where(users.c.id == user_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).first()
        return None if row is None else row_to_user(row)

    def require(self, user_id: str) -> User:
        user = self.get(user_id)
        if user is None:
            raise UserNotFound(f"no user {user_id}")
        return user

    def get_by_user_name(self, user_name: str) -> User | None:
        key = user_name.casefold()
        row = self._conn.execute(select(users).where(users.c.user_name_key == key)).first()
        return None if row is None else row_to_user(row)

    def update(self, user: User, expected_version: int, previous: User | None = None) -> None:
        """Write ``user`` if the stored version is still ``expected_version``. Given the
        ``previous`` record (read in this transaction), an unchanged userName is not
        checked again and unchanged emails are not rewritten."""
        if previous is None or previous.user_name_key != user.user_name_key:
            self._uniqueness(user)
        stmt = (
            update(users)
            .where(users.c.id == user.id, users.c.version == expected_version)
            .values(**_columns(user))
        )
        try:
            written = self._conn.execute(stmt).rowcount
        except IntegrityError as exc:
            # Another unique index (an operator's, say on externalId): 409, not a 500.
            if exc.orig is not None and _is_unique_violation(exc.orig):
                raise UniquenessConflict("a value that must be unique is already taken") from None
            raise
        if written != 1:
            if self.get(user.id) is None:
                raise UserNotFound(f"no user {user.id}")
            raise VersionConflict(f"user {user.id} changed concurrently")
        rows = _email_rows(user)
        if previous is not None and _email_rows(previous) == rows:
            return
        self._conn.execute(delete(user_emails).where(user_emails.c.user_id == user.id))
        if rows:
            self._conn.execute(insert(user_emails), rows)

    def delete(self, user_id: str) -> None:
        if self._conn.execute(delete(users).where(users.c.id == user_id)).rowcount != 1:
            raise UserNotFound(f"no user {user_id}")
        # Members are users or groups, so member_id has no foreign key to cascade.
        self._conn.execute(delete(group_members).where(group_members.c.member_id == user_id))
