"""Ostiary as a source, one change at a time: push the current state of one User or Group.

The outbox worker calls these with the resource as Ostiary holds it *now*, never the diff
that queued the message. So delivery order does not matter: a retried older message
pushes the same (current) state a newer one would, and cannot undo a later change. The
plan and apply machinery is the agent's own (matching by externalId, then userName;
PATCH or PUT by ServiceProviderConfig; If-Match; deactivate rather than delete), over a
plan that covers just this one resource.

The downstream copy's externalId is the Ostiary id (:data:`~ostiary.sync.mapping.OSTIARY_USERS`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ostiary.sync.apply import Applier, Summary
from ostiary.sync.client import ScimClient
from ostiary.sync.journal import Journal
from ostiary.sync.mapping import DesiredGroup, Mapping
from ostiary.sync.plan import Plan, make_plan

# Above this many members one listing is cheaper than a filtered GET per member.
LIST_ABOVE = 50


class MemoryJournal(Journal):
    """The outbox is the durable record here; the per-push plan needs no file."""

    @classmethod
    def empty(cls) -> MemoryJournal:
        return cls(Path("-"))

    def _write(self, entries: list[dict[str, Any]]) -> None:
        return None  # Journal.append and append_lazy have replayed them in memory

    def compact(self) -> None:
        self.pending.clear()
        self.interrupted = False


@dataclass(frozen=True)
class Member:
    """One user as Ostiary holds it: its id, userName, and flattened record (None when the
    user is gone or outside the target's filter, which deprovisions the downstream copy)."""

    id: str
    user_name: str
    record: dict[str, Any] | None


def find_user(client: ScimClient, ostiary_id: str, user_name: str | None) -> dict[str, Any] | None:
    found = client.find("Users", "externalId", ostiary_id)
    if found is None and user_name:
        found = client.find("Users", "userName", user_name)
    return found


def _remote_users(client: ScimClient, members: list[Member]) -> list[dict[str, Any]]:
    if len(members) <= LIST_ABOVE:
        found = (find_user(client, m.id, m.user_name) for m in members)
        return list({r["id"]: r for r in found if r is not None}.values())
    # Only the members' downstream copies: the plan must not see (and deprovision) others.
    ids = {m.id for m in members}
    names = {m.user_name.lower() for m in members}
    return [
        r
        for r in client.list_all("Users")
        if r.get("externalId") in ids or str(r.get("userName", "")).lower() in names
    ]


def _run(client: ScimClient, plan: Plan) -> Summary:
    if plan.empty:
        return Summary()
    return Applier(client, MemoryJournal.empty(), concurrency=1, use_bulk=False).run(plan)


def push_user(
    client: ScimClient, mapping: Mapping, member: Member, *, delete: bool = False
) -> tuple[Plan, Summary]:
    """Make the downstream copy of one user match Ostiary: create, update, or (when the
    record is None) deactivate it, or delete it when ``delete``."""
    desired = [mapping.user(member.record)] if member.record is not None else []
    remote = find_user(client, member.id, member.user_name)
    plan = make_plan(
        desired,
        [],
        [remote] if remote is not None else [],
        [],
        compare_paths=mapping.compare_paths,
        delete=delete,
    )
    return plan, _run(client, plan)


def push_group(
    client: ScimClient,
    mapping: Mapping,
    name: str,
    members: list[Member] | None,
    *,
    delete: bool = False,
) -> tuple[Plan, Summary]:
    """Make the downstream group ``name`` hold exactly ``members`` (creating any member
    not there yet); ``members=None`` (the group is gone) empties it, or deletes it."""
    remote_group = client.find("Groups", "displayName", name)
    groups = [remote_group] if remote_group is not None else []
    if members is None:
        known = {name: remote_group["id"]} if remote_group is not None else {}
        plan = make_plan(
            [],
            [],
            [],
            groups,
            compare_paths=mapping.compare_paths,
            known_groups=known,
            delete=delete,
        )
        return plan, _run(client, plan)
    inside = [m for m in members if m.record is not None]
    desired = [mapping.user(m.record) for m in inside if m.record is not None]
    plan = make_plan(
        desired,
        [DesiredGroup(name, frozenset(d.key for d in desired))],
        _remote_users(client, inside),
        groups,
        compare_paths=mapping.compare_paths,
        delete=delete,
    )
    return plan, _run(client, plan)
