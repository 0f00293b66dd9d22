"""Group persistence: the group row (small document) plus one row per membership.

Membership changes are row inserts and deletes keyed by (group_id, member_id), so a
change to one member of a 100,000-member group touches one row and the group's version.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ostiary.directory.errors import GroupNotFound, MemberNotFound, VersionConflict
from ostiary.directory.models import Group, Member
from ostiary.store.repositories.probe import present
from ostiary.store.tables import group_members, groups, users

_CHUNK = 500  # stays under SQLite's bound-parameter limit
# Up to this many members are added by one multi-row INSERT (three parameters a row:
# psycopg caches the parsed statement up to 50 parameters).
_FEW = 16


def _chunks(ids: list[str]) -> Iterable[list[str]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i : i + _CHUNK]


def _columns(group: Group) -> dict[str, Any]:
    return {
        "display_name": group.display_name,
        "display_name_key": group.display_name.casefold(),
        "external_id": group.external_id,
        "doc": group.doc,
        "version": group.version,
        "updated_at": group.updated_at,
    }


def row_to_group(r: Row[Any]) -> Group:
    return Group(
        id=r.id,
        display_name=r.display_name,
        external_id=r.external_id,
        doc=r.doc or {},
        version=r.version,
        created_at=r.created_at,
        updated_at=r.updated_at,
    )


class GroupRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, group: Group) -> None:
        values = _columns(group) | {"id": group.id, "created_at": group.created_at}
        self._conn.execute(insert(groups).values(**values))

    def get(self, group_id: str, *, for_update: bool = False) -> Group | None:
        """``for_update``: PostgreSQL writers of one group (and its memberships) queue."""
        stmt = select(groups).where(groups.c.id == group_id)
        if for_update:
            stmt = stmt.with_for_update()
        row = self._conn.execute(stmt).first()
        return None if row is None else row_to_group(row)

    def update(self, group: Group, expected_version: int) -> None:
        stmt = (
            update(groups)
            .where(groups.c.id == group.id, groups.c.version == expected_version)
            .values(**_columns(group))
        )
        if self._conn.execute(stmt).rowcount != 1:
            if self.get(group.id) is None:
                raise GroupNotFound(f"no group {group.id}")
            raise VersionConflict(f"group {group.id} changed concurrently")

    def touch(self, group_id: str, now: datetime) -> Group | None:
        """New version and lastModified for a change to the members alone, in one statement
        (the row lock and the read of the new row included); None if there is no group."""
        stmt = (
            update(groups)
            .where(groups.c.id == group_id)
            .values(version=groups.c.version + 1, updated_at=now)
            .returning(*groups.c)
        )
        row = self._conn.execute(stmt).first()
        return None if row is None else row_to_group(row)

    def delete(self, group_id: str) -> None:
        if self._conn.execute(delete(groups).where(groups.c.id == group_id)).rowcount != 1:
            raise GroupNotFound(f"no group {group_id}")
        self._conn.execute(delete(group_members).where(group_members.c.member_id == group_id))

    def resolve(self, refs: list[tuple[str, str | None]]) -> list[Member]:
        """Members for (id, claimed type) pairs; an unknown id is :class:`MemberNotFound`."""
        ids = list(dict.fromkeys(r[0] for r in refs))
        # Index probes (see probe.py): a 100,000-member group created right after its
        # users were loaded was a sequential scan of users per chunk of ids.
        found = dict.fromkeys(present(self._conn, users, "id", ids), "User")
        rest = [i for i in ids if i not in found]
        if rest:
            found.update(dict.fromkeys(present(self._conn, groups, "id", rest), "Group"))
        missing = [i for i in ids if i not in found]
        if missing:
            raise MemberNotFound(f"no User or Group with id {missing[0]}")
        for value, claimed in refs:
            if claimed is not None and claimed != found[value]:
                raise MemberNotFound(f"{value} is a {found[value]}, not a {claimed}")
        return [Member(id=i, type=found[i]) for i in ids]

    def add_members(self, group_id: str, members: list[Member]) -> list[str]:
        """Insert the memberships that do not exist yet; returns the ids really added."""
        if any(m.id == group_id for m in members):
            raise MemberNotFound("a group cannot be a member of itself")
        rows = [{"group_id": group_id, "member_id": m.id, "member_type": m.type} for m in members]
        if len(rows) <= _FEW:
            # One INSERT ... ON CONFLICT DO NOTHING RETURNING gives the rows really inserted
            # without asking first which exist: a PATCH's one or few members.
            dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(group_members).values(rows).on_conflict_do_nothing()
            added = set(self._conn.execute(stmt.returning(group_members.c.member_id)).scalars())
        else:  # many: a multi-row VALUES statement cost 5x the CPU of this executemany
            present = self.member_ids_among(group_id, [m.id for m in members])
            rows = [r for r in rows if r["member_id"] not in present]
            if rows:
                self._conn.execute(insert(group_members), rows)
            added = {r["member_id"] for r in rows}
        return [m.id for m in members if m.id in added]

    def member_ids_among(self, group_id: str, ids: list[str]) -> set[str]:
        # Planned as one primary-key probe per id whatever the statistics (``probe``): an
        # IN list over a group's rows went to a scan while a bulk load outran ANALYZE.
        return present(self._conn, group_members, "member_id", ids, ("group_id", group_id))

    def remove_members(self, group_id: str, ids: list[str]) -> list[str]:
        """Delete the memberships of ``ids`` that exist; returns the ids really removed."""
        removed: set[str] = set()
        for chunk in _chunks(ids):
            stmt = delete(group_members).where(
                group_members.c.group_id == group_id, group_members.c.member_id.in_(chunk)
            )
            removed.update(self._conn.execute(stmt.returning(group_members.c.member_id)).scalars())
        return sorted(removed)

    def remove_all_members(self, group_id: str) -> int:
        stmt = delete(group_members).where(group_members.c.group_id == group_id)
        return int(self._conn.execute(stmt).rowcount)

    def members(self, group_id: str) -> list[Member]:
        """Members as stored: id and type (no join; SCIM's members carry no display here)."""
        gm = group_members
        q = (
            select(gm.c.member_id, gm.c.member_type)
            .where(gm.c.group_id == group_id)
            .order_by(gm.c.member_id)
        )
        return [Member(id=r[0], type=r[1]) for r in self._conn.execute(q)]

    def groups_of(self, member_id: str) -> list[tuple[str, str]]:
        """(group id, displayName) of the groups ``member_id`` is a direct member of."""
        q = (
            select(groups.c.id, groups.c.display_name)
            .join(group_members, group_members.c.group_id == groups.c.id)
            .where(group_members.c.member_id == member_id)
            .order_by(groups.c.id)
        )
        return [(r[0], r[1]) for r in self._conn.execute(q)]

    def bump_parents(self, member_id: str, now: datetime) -> None:
        """New version and lastModified for the groups ``member_id`` is about to leave
        (its deletion removes the rows), so their ETags change with their member lists."""
        parents = select(group_members.c.group_id).where(group_members.c.member_id == member_id)
        self._conn.execute(
            update(groups)
            .where(groups.c.id.in_(parents))
            .values(version=groups.c.version + 1, updated_at=now)
        )
