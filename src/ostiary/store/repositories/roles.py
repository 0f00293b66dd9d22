"""Administrator roles: which user holds which console role."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from ostiary.store.tables import users
from ostiary.store.tables_console import admin_roles as ar


class RoleRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def of(self, user_id: str) -> set[str]:
        stmt = select(ar.c.role).where(ar.c.user_id == user_id)
        return set(self._conn.execute(stmt).scalars())

    def grant(self, user_id: str, role: str, now: datetime, by: str | None) -> bool:
        """True when the role was new to the user (granting twice changes nothing)."""
        if role in self.of(user_id):
            return False
        self._conn.execute(
            insert(ar).values(user_id=user_id, role=role, granted_at=now, granted_by=by)
        )
        return True

    def revoke(self, user_id: str, role: str) -> bool:
        stmt = delete(ar).where(ar.c.user_id == user_id, ar.c.role == role)
        return bool(self._conn.execute(stmt).rowcount)

    def holders(self, role: str) -> list[str]:
        stmt = select(ar.c.user_id).where(ar.c.role == role).order_by(ar.c.user_id)
        return list(self._conn.execute(stmt).scalars())

    def all(self) -> list[tuple[str, str, str, datetime, str | None]]:
        """(user id, userName, role, granted at, granted by), by userName then role."""
        stmt = (
            select(ar.c.user_id, users.c.user_name, ar.c.role, ar.c.granted_at, ar.c.granted_by)
            .join(users, users.c.id == ar.c.user_id)
            .order_by(users.c.user_name_key, ar.c.role)
        )
        return [tuple(r) for r in self._conn.execute(stmt)]
