"""The plan: a pure diff between the desired state (source) and the target's state.

No I/O here. Users are matched by the id the journal remembers, then externalId, then
userName (case-insensitive, RFC 7643 s4.1.1 says userName is case-insensitive unique).
Only the attributes the mapping sets are compared; everything else on the target is left
alone. A managed user missing from the source is deactivated (``active=false``), or
deleted when the caller asks for it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ostiary.sync.config import Safety
from ostiary.sync.errors import SafetyRefused
from ostiary.sync.mapping import DesiredGroup, DesiredUser


@dataclass(frozen=True)
class Change:
    path: str
    old: Any
    new: Any


@dataclass(frozen=True)
class Create:
    key: str
    user_name: str
    doc: dict[str, Any]


@dataclass(frozen=True)
class Update:
    key: str
    id: str
    user_name: str
    version: str | None
    changes: tuple[Change, ...]
    doc: dict[str, Any]  # the desired document, for servers that only take PUT


@dataclass(frozen=True)
class Deprovision:
    id: str
    user_name: str
    external_id: str | None
    version: str | None
    delete: bool


@dataclass(frozen=True)
class Membership:
    group: str
    group_id: str | None  # None: the group is created in this run
    version: str | None
    add: tuple[str, ...]  # user keys (ids may not exist yet)
    remove: tuple[str, ...]  # user ids
    delete_group: bool = False


@dataclass
class Plan:
    creates: list[Create] = field(default_factory=list)
    updates: list[Update] = field(default_factory=list)
    deprovisions: list[Deprovision] = field(default_factory=list)
    group_creates: list[str] = field(default_factory=list)
    memberships: list[Membership] = field(default_factory=list)
    matched: dict[str, str] = field(default_factory=dict)  # user key -> target id
    hashes: dict[str, str] = field(default_factory=dict)  # user key -> compared values' hash
    managed_active: int = 0

    @property
    def empty(self) -> bool:
        return not (
            self.creates
            or self.updates
            or self.deprovisions
            or self.group_creates
            or self.memberships
        )

    def counts(self) -> dict[str, int]:
        return {
            "create": len(self.creates),
            "update": len(self.updates),
            "deactivate": sum(not d.delete for d in self.deprovisions),
            "delete": sum(d.delete for d in self.deprovisions),
            "group_create": len(self.group_creates),
            "membership_add": sum(len(m.add) for m in self.memberships),
            "membership_remove": sum(len(m.remove) for m in self.memberships),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "counts": self.counts(),
            "creates": [
                {"key": c.key, "userName": c.user_name, "doc": c.doc} for c in self.creates
            ],
            "updates": [
                {
                    "key": u.key,
                    "id": u.id,
                    "userName": u.user_name,
                    "changes": [asdict(c) for c in u.changes],
                }
                for u in self.updates
            ],
            "deprovisions": [asdict(d) for d in self.deprovisions],
            "group_creates": list(self.group_creates),
            "memberships": [asdict(m) for m in self.memberships],
        }


def get_path(doc: dict[str, Any], path: str) -> Any:
    if path.startswith("urn:"):
        container, _, path = path.rpartition(":")
        doc = doc.get(container) or {}
    head, _, sub = path.partition(".")
    value = doc.get(head)
    if sub:
        value = value.get(sub) if isinstance(value, dict) else None
    return value


def normalise(value: Any) -> Any:
    """Equal SCIM values compare equal: Entra's "True", primary omitted vs false, order."""
    if value in (None, "", [], {}):
        return None
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            return sorted(
                (str(v.get("type") or ""), str(v.get("value")), bool(normalise(v.get("primary"))))
                for v in value
            )
        return sorted(str(v) for v in value)
    return value


def diff_user(
    desired: dict[str, Any], remote: dict[str, Any], paths: tuple[str, ...]
) -> tuple[Change, ...]:
    changes = []
    for path in paths:
        new, old = get_path(desired, path), get_path(remote, path)
        # Equal values normalise equal: a re-sync compares most values only once.
        if new != old and normalise(new) != normalise(old):
            changes.append(Change(path, old, new))
    return tuple(changes)


def version_of(resource: dict[str, Any]) -> str | None:
    meta = resource.get("meta")
    return meta.get("version") if isinstance(meta, dict) else None


def match_users(
    desired: list[DesiredUser], remote: list[dict[str, Any]], known: dict[str, str]
) -> dict[str, dict[str, Any]]:
    by_id = {r["id"]: r for r in remote}
    by_ext = {r["externalId"]: r for r in remote if r.get("externalId")}
    by_name = {str(r.get("userName", "")).lower(): r for r in remote}
    matched: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for d in desired:
        ext = d.doc.get("externalId")
        for candidate in (
            by_id.get(known.get(d.key, "")),
            by_ext.get(ext) if ext else None,
            by_name.get(d.user_name.lower()),
        ):
            if candidate is not None and candidate["id"] not in taken:
                matched[d.key] = candidate
                taken.add(candidate["id"])
                break
    return matched


def make_plan(
    desired_users: list[DesiredUser],
    desired_groups: list[DesiredGroup],
    remote_users: list[dict[str, Any]],
    remote_groups: list[dict[str, Any]],
    *,
    compare_paths: tuple[str, ...],
    known_users: dict[str, str] | None = None,
    known_groups: dict[str, str] | None = None,
    scope: str = "externalId",
    delete: bool = False,
    fresh: set[str] | None = None,
    matched: dict[str, dict[str, Any]] | None = None,
) -> Plan:
    """``fresh``: keys of users known to hold their desired values (sync/remote.py),
    matched but not compared; ``matched``: match_users' answer when already worked out."""
    known_users, known_groups = known_users or {}, known_groups or {}
    fresh = fresh or set()
    plan = Plan()
    if matched is None:
        matched = match_users(desired_users, remote_users, known_users)
    ours = set(known_users.values())
    for d in desired_users:
        r = matched.get(d.key)
        if r is None:
            plan.creates.append(Create(d.key, d.user_name, d.doc))
            continue
        plan.matched[d.key] = r["id"]
        if d.key in fresh:
            continue
        changes = diff_user(d.doc, r, compare_paths)
        if changes:
            plan.updates.append(Update(d.key, r["id"], d.user_name, version_of(r), changes, d.doc))
    matched_ids = set(plan.matched.values())
    for r in remote_users:
        managed = scope == "all" or bool(r.get("externalId")) or r["id"] in ours
        active = normalise(r.get("active")) is not False
        plan.managed_active += managed and active
        if managed and r["id"] not in matched_ids and (active or delete):
            plan.deprovisions.append(
                Deprovision(
                    r["id"], str(r.get("userName")), r.get("externalId"), version_of(r), delete
                )
            )
    _plan_groups(plan, desired_groups, remote_groups, known_groups, scope, delete)
    return plan


def _plan_groups(
    plan: Plan,
    desired: list[DesiredGroup],
    remote: list[dict[str, Any]],
    known: dict[str, str],
    scope: str,
    delete: bool,
) -> None:
    by_id = {g["id"]: g for g in remote}
    by_ext = {g["externalId"]: g for g in remote if g.get("externalId")}
    by_name = {str(g.get("displayName", "")): g for g in remote}
    used: set[str] = set()
    for d in desired:
        g = by_id.get(known.get(d.name, "")) or by_ext.get(d.name) or by_name.get(d.name)
        if g is None or g["id"] in used:
            plan.group_creates.append(d.name)
            if d.member_keys:
                plan.memberships.append(
                    Membership(d.name, None, None, tuple(sorted(d.member_keys)), ())
                )
            continue
        used.add(g["id"])
        have = {m["value"] for m in g.get("members") or [] if m.get("type", "User") == "User"}
        want = {plan.matched.get(k, f"?{k}") for k in d.member_keys}
        add = tuple(sorted(k for k in d.member_keys if plan.matched.get(k) not in have))
        remove = tuple(sorted(have - want))
        if add or remove:
            plan.memberships.append(Membership(d.name, g["id"], version_of(g), add, remove))
    ours = set(known.values())
    for g in remote:
        if g["id"] in used or not (scope == "all" or g["id"] in ours):
            continue
        members = tuple(sorted(m["value"] for m in g.get("members") or []))
        if members or delete:
            name = str(g.get("displayName"))
            plan.memberships.append(Membership(name, g["id"], version_of(g), (), members, delete))


def check_safety(plan: Plan, safety: Safety, *, allow_mass_deprovision: bool) -> None:
    """Refuse a plan that deprovisions more than min(percent, count) of managed users."""
    n = len(plan.deprovisions)
    limit = safety.limit(plan.managed_active)
    if n and n > limit and not allow_mass_deprovision:
        raise SafetyRefused(
            f"the plan deprovisions {n} of {plan.managed_active} managed active users, more than "
            f"the threshold ({safety.max_deprovision_percent:g}% or "
            f"{safety.max_deprovision_count}, whichever is smaller = {limit:g}); "
            "check the source, then re-run with --allow-mass-deprovision"
        )
