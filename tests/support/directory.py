"""A migrated database holding a few users, and the documents the in-memory filter
evaluator sees for them (the substring search tests compare the two)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from ostiary.directory.models import User
from ostiary.store import migrate
from ostiary.store.db import Database
from ostiary.store.repositories.users import UserRepository

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def seeded(
    database_url: str, people: Iterable[tuple[str, str, dict[str, Any]]]
) -> tuple[Database, dict[str, dict[str, Any]]]:
    """``people`` as (id, userName, document) created in one transaction; returns the
    database and id -> {"userName": ..., **document}."""
    db = Database(database_url, pool_size=2)
    migrate.upgrade(db)
    docs = {}
    with db.begin() as conn:
        repo = UserRepository(conn)
        for user_id, name, doc in people:
            user = User(id=user_id, user_name=name, doc=doc, created_at=EPOCH)
            user.updated_at = EPOCH
            repo.add(user)
            docs[user_id] = {"userName": name, **doc}
    return db, docs


def address_book(
    people: Iterable[tuple[str, str, list[str]]],
) -> list[tuple[str, str, dict[str, Any]]]:
    """``seeded``'s people from (id, userName, addresses): a document listing the
    addresses as emails, or none."""
    return [
        (uid, name, {"emails": [{"value": e} for e in emails]} if emails else {})
        for uid, name, emails in people
    ]
