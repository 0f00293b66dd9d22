"""The user repository on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ostiary.core.ids import new_id
from ostiary.directory.errors import UniquenessConflict, UserNotFound, VersionConflict
from ostiary.directory.models import User
from ostiary.store.repositories.users import UserRepository
from tests.support.deploy import Deployment

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _user(user_name: str, **kw: object) -> User:
    doc = {"emails": [{"value": f"{user_name}@example.com", "type": "work"}]}
    return User(id=new_id(), user_name=user_name, doc=doc, created_at=NOW, updated_at=NOW, **kw)  # type: ignore[arg-type]


def test_add_then_get_returns_the_same_user(deployment: Deployment):
    user = _user("ada", external_id="E1", given_name="Ada")
    with deployment.db.begin() as conn:
        UserRepository(conn).add(user)
    with deployment.db.read() as conn:
        got = UserRepository(conn).require(user.id)
    assert (got.user_name, got.external_id, got.given_name, got.active) == (
        "ada",
        "E1",
        "Ada",
        True,
    )
    assert got.emails == ["ada@example.com"]


def test_user_name_is_unique_case_insensitively(deployment: Deployment):
    """RFC 7643 section 4.1.1: userName is caseExact false and unique."""
    with deployment.db.begin() as conn:
        UserRepository(conn).add(_user("Grace"))
    with pytest.raises(UniquenessConflict), deployment.db.begin() as conn:
        UserRepository(conn).add(_user("gRACE"))


def test_update_with_a_stale_version_conflicts(deployment: Deployment):
    user = _user("linus")
    with deployment.db.begin() as conn:
        UserRepository(conn).add(user)
    user.display_name, user.version = "Linus", 2
    with deployment.db.begin() as conn:
        UserRepository(conn).update(user, expected_version=1)
    with pytest.raises(VersionConflict), deployment.db.begin() as conn:
        UserRepository(conn).update(user, expected_version=1)


def test_delete_then_missing(deployment: Deployment):
    user = _user("ken")
    with deployment.db.begin() as conn:
        UserRepository(conn).add(user)
        UserRepository(conn).delete(user.id)
    with pytest.raises(UserNotFound), deployment.db.begin() as conn:
        UserRepository(conn).delete(user.id)
