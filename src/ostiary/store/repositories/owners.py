"""Owners of provisioning keys and OIDC clients (``resource_owners``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from ostiary.core.errors import NotFound
from ostiary.store.repositories.users import UserRepository
from ostiary.store.tables_owners import resource_owners as ro


def resolve_user(conn: Connection, id_or_user_name: str) -> str:
    """The id of the user named by ``id_or_user_name`` (an id first, then a userName)."""
    users = UserRepository(conn)
    user = users.get(id_or_user_name) or users.get_by_user_name(id_or_user_name)
    if user is None:
        raise NotFound(f"no user with id or userName {id_or_user_name!r}")
    return user.id


class OwnerRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def set(self, kind: str, resource_id: str, owner_user_id: str, now: datetime) -> None:
        """Make ``owner_user_id`` the (only) owner of the resource."""
        where = (ro.c.kind == kind) & (ro.c.resource_id == resource_id)
        self._conn.execute(delete(ro).where(where))
        self._conn.execute(
            insert(ro).values(
                kind=kind, resource_id=resource_id, owner_user_id=owner_user_id, created_at=now
            )
        )

    def owner_of(self, kind: str, resource_id: str) -> str | None:
        where = (ro.c.kind == kind) & (ro.c.resource_id == resource_id)
        return self._conn.execute(select(ro.c.owner_user_id).where(where)).scalar()

    def all_owned_by(self, owner_user_id: str) -> dict[str, list[str]]:
        """Every resource ``owner_user_id`` owns, by kind, in one read."""
        query = select(ro.c.kind, ro.c.resource_id).where(ro.c.owner_user_id == owner_user_id)
        out: dict[str, list[str]] = {}
        for kind, resource_id in self._conn.execute(query.order_by(ro.c.kind, ro.c.resource_id)):
            out.setdefault(kind, []).append(resource_id)
        return out

    def owned_by(self, owner_user_id: str, kind: str) -> list[str]:
        query = select(ro.c.resource_id).where(
            ro.c.owner_user_id == owner_user_id, ro.c.kind == kind
        )
        return list(self._conn.execute(query.order_by(ro.c.resource_id)).scalars())
