"""User persistence: indexed columns, the JSON document, and the email rows filters use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

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


# Built once: a create runs both, and building them per call (``.values(**row)`` coerces
# every value through SQLAlchemy's expression system) cost more than executing them.
_TAKEN = select(users.c.id).where(
    users.c.user_name_key == bindparam("key"), users.c.id != bindparam("id")
)
_INSERT_USER = insert(users)


class UserRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def _uniqueness(self, user: User) -> None:
        params = {"key": user.user_name_key, "id": user.id}
        if self._conn.execute(_TAKEN, params).first() is not None:
            raise UniquenessConflict(f"userName {user.user_name!r} is already taken")

    def add(self, user: User) -> None:
        self._uniqueness(user)
        values = _columns(user) | {"id": user.id, "created_at": user.created_at}
        try:
            with self._conn.begin_nested():
                self._conn.execute(_INSERT_USER, values)
        except IntegrityError:
            # A concurrent insert won the race between the check and the insert.
            raise UniquenessConflict(f"userName {user.user_name!r} is already taken") from None
        rows = _email_rows(user)
        if rows:
            self._conn.execute(insert(user_emails), rows)

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
        if self._conn.execute(stmt).rowcount != 1:
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
