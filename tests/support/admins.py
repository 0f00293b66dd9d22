"""Users with console roles, written straight to a deployment's database."""

from __future__ import annotations

from datetime import datetime

from ostiary.core.ids import new_id
from ostiary.directory.passwords import hash_password
from ostiary.scim.users import build_user
from ostiary.store.db import Database
from ostiary.store.repositories.roles import RoleRepository
from ostiary.store.repositories.users import UserRepository

PASSWORD = "correct horse battery staple"


def add_user(db: Database, name: str, roles: tuple[str, ...], now: datetime) -> str:
    """A user who signs in with PASSWORD, holding ``roles``; returns the id."""
    doc = {"userName": name, "active": True, "password": PASSWORD}
    user = build_user(doc, user_id=new_id(), hash_password=hash_password, now=now)
    with db.begin() as conn:
        UserRepository(conn).add(user)
        for role in roles:
            RoleRepository(conn).grant(user.id, role, now, "test")
    return user.id
