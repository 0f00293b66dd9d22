"""The group repository on SQLite and PostgreSQL: memberships are rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ostiary.core.ids import new_id
from ostiary.directory.errors import MemberNotFound, VersionConflict
from ostiary.directory.models import Group, User
from ostiary.store.repositories.groups import GroupRepository
from ostiary.store.repositories.users import UserRepository
from tests.support.deploy import Deployment

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _group(name: str) -> Group:
    return Group(id=new_id(), display_name=name, created_at=NOW, updated_at=NOW)


def _user(name: str) -> User:
    return User(id=new_id(), user_name=name, created_at=NOW, updated_at=NOW)


def test_members_are_resolved_added_and_removed_by_row(deployment: Deployment):
    ada, team, parent = _user("ada"), _group("team"), _group("parent")
    with deployment.db.begin() as conn:
        UserRepository(conn).add(ada)
        repo = GroupRepository(conn)
        repo.add(team)
        repo.add(parent)
        members = repo.resolve([(ada.id, None), (team.id, "Group")])
        assert {(m.id, m.type) for m in members} == {(ada.id, "User"), (team.id, "Group")}
        assert sorted(repo.add_members(parent.id, members)) == sorted([ada.id, team.id])
        assert repo.add_members(parent.id, members) == []  # idempotent
        assert repo.groups_of(ada.id) == [(parent.id, "parent")]
        assert repo.remove_members(parent.id, [ada.id, "not-a-member"]) == [ada.id]
        assert [m.id for m in repo.members(parent.id)] == [team.id]


@pytest.mark.parametrize("refs", [[("missing", None)], [("USER", "Group")]])
def test_unknown_or_mistyped_members_are_refused(deployment: Deployment, refs):  # type: ignore[no-untyped-def]
    ada = _user("ada")
    with deployment.db.begin() as conn:
        UserRepository(conn).add(ada)
        real = [(ada.id if v == "USER" else v, t) for v, t in refs]
        with pytest.raises(MemberNotFound):
            GroupRepository(conn).resolve(real)


def test_a_group_cannot_contain_itself(deployment: Deployment):
    group = _group("g")
    with deployment.db.begin() as conn:
        repo = GroupRepository(conn)
        repo.add(group)
        with pytest.raises(MemberNotFound):
            repo.add_members(group.id, repo.resolve([(group.id, None)]))


def test_stale_update_conflicts_and_parents_get_a_new_version(deployment: Deployment):
    child, parent = _group("child"), _group("parent")
    with deployment.db.begin() as conn:
        repo = GroupRepository(conn)
        repo.add(child)
        repo.add(parent)
        repo.add_members(parent.id, repo.resolve([(child.id, None)]))
        repo.bump_parents(child.id, NOW + timedelta(minutes=1))
        repo.delete(child.id)
        bumped = repo.get(parent.id)
        assert bumped is not None and bumped.version == 2 and repo.members(parent.id) == []
        with pytest.raises(VersionConflict):
            repo.update(parent, expected_version=1)


def test_many_members_added_once_only_to_their_own_group(deployment: Deployment):
    """RFC 7644 section 3.5.2.1: adding members already present changes nothing. An add of
    many (the path that asks first which are present, one primary-key probe each on
    PostgreSQL) counts only this group's rows: the same users in another group are
    still added here, and those already here are not added twice."""
    people = [_user(f"u{i}") for i in range(40)]
    here, other = _group("here"), _group("other")
    with deployment.db.begin() as conn:
        users_repo, repo = UserRepository(conn), GroupRepository(conn)
        for u in people:
            users_repo.add(u)
        repo.add(here)
        repo.add(other)
        members = repo.resolve([(u.id, "User") for u in people])
        repo.add_members(other.id, members)  # all 40 in the other group
        first = repo.add_members(here.id, members[:25])
        assert sorted(first) == sorted(u.id for u in people[:25])
        assert repo.member_ids_among(here.id, [u.id for u in people]) == set(first)
        again = repo.add_members(here.id, members)  # 25 present, 15 new
        assert sorted(again) == sorted(u.id for u in people[25:])
        assert len(repo.members(here.id)) == 40
