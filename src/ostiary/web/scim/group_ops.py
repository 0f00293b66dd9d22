"""Group writes inside a caller's transaction (shared by /Groups and Bulk).

Membership is rows: create and PATCH insert or delete only the affected rows; PUT diffs
the requested members against the stored ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ostiary.core.ids import new_id
from ostiary.directory.errors import GroupNotFound, MemberNotFound, VersionConflict
from ostiary.directory.models import Group, Member
from ostiary.scim import errors
from ostiary.scim.document import check_immutable, check_required, normalise
from ostiary.scim.group_patch import MemberAction, split_group_patch
from ostiary.scim.groups import (
    MemberRef,
    build_group,
    canonical_body,
    group_document,
    render_group,
    render_member,
)
from ostiary.scim.patch import Patcher, parse_operations
from ostiary.scim.paths import value_filter
from ostiary.scim.users import EXTRA_URNS
from ostiary.store.repositories.groups import GroupRepository
from ostiary.web.oauth import client_access
from ostiary.web.scim.call import Call, Outcome, ids_detail


def load_group(call: Call, group_id: str) -> Group:
    group = GroupRepository(call.conn).get(group_id, for_update=True)
    if group is None:
        raise errors.NotFound(f"no Group with id {group_id}")
    return group


def _resolve(call: Call, refs: list[MemberRef] | tuple[MemberRef, ...]) -> list[Member]:
    try:
        return GroupRepository(call.conn).resolve([(r.value, r.type) for r in refs])
    except MemberNotFound as exc:
        # Section 3.12 invalidValue: clients retry a 5xx forever, a 400 they report.
        raise errors.InvalidValue(str(exc)) from None


def _add(call: Call, group: Group, refs: list[MemberRef] | tuple[MemberRef, ...]) -> list[str]:
    if not refs:
        return []
    try:
        return GroupRepository(call.conn).add_members(group.id, _resolve(call, refs))
    except MemberNotFound as exc:
        raise errors.InvalidValue(str(exc)) from None


def _audit_members(call: Call, group_id: str, added: list[str], removed: list[str]) -> None:
    if added:
        call.audit("scim.group.members.add", "Group", group_id, detail=ids_detail("ids", added))
    if removed:
        call.audit(
            "scim.group.members.remove", "Group", group_id, detail=ids_detail("ids", removed)
        )


def create_group(call: Call, body: Any) -> Outcome:
    doc, refs = canonical_body(call.registry.group, body)
    group = build_group(doc, group_id=new_id(), now=call.now)
    GroupRepository(call.conn).add(group)
    added = _add(call, group, refs)
    out = render_group(group, call.base, GroupRepository(call.conn).members(group.id))
    call.audit("scim.group.create", "Group", group.id, after=render_group(group, call.base))
    _audit_members(call, group.id, added, [])
    return Outcome(201, out, group.version, out["meta"]["location"])


def _save(call: Call, old: Group, doc: dict[str, Any]) -> Group:
    group = build_group(doc, group_id=old.id, now=call.now, previous=old)
    try:
        GroupRepository(call.conn).update(group, old.version)
    except (GroupNotFound, VersionConflict) as exc:
        raise errors.ScimError(str(exc), status=409) from None
    if group_document(group) != group_document(old):
        call.audit(
            "scim.group.update",
            "Group",
            group.id,
            before=render_group(old, call.base),
            after=render_group(group, call.base),
        )
    return group


def _replace_group(call: Call, group_id: str, body: Any) -> Outcome:
    old = load_group(call, group_id)
    call.check_version(old.version)
    kind = call.registry.group
    doc, refs = canonical_body(kind, body)
    check_immutable(kind, group_document(old), doc)
    group = _save(call, old, doc)
    repo = GroupRepository(call.conn)
    wanted = {r.value for r in refs}
    current = {m.id for m in repo.members(group.id)}
    removed = repo.remove_members(group.id, sorted(current - wanted))
    added = _add(call, group, [r for r in refs if r.value not in current])
    _audit_members(call, group.id, added, removed)
    return Outcome(200, render_group(group, call.base, repo.members(group.id)), group.version)


def _remove_where(call: Call, group_id: str, text: str) -> list[str]:
    repo = GroupRepository(call.conn)
    attr = call.registry.group.core.attr("members")
    assert attr is not None
    matches = value_filter(text, attr)
    ids = [m.id for m in repo.members(group_id) if matches(render_member(m, call.base))]
    return repo.remove_members(group_id, ids)


def _apply_member_actions(call: Call, group: Group, actions: list[MemberAction]) -> None:
    repo = GroupRepository(call.conn)
    added: list[str] = []
    removed: list[str] = []
    for action in actions:
        if action.kind == "add":
            added += _add(call, group, action.refs)
        elif action.kind == "remove":
            removed += repo.remove_members(group.id, list(action.ids))
        elif action.kind == "remove_all":
            removed += [m.id for m in repo.members(group.id)]
            repo.remove_all_members(group.id)
        else:
            assert action.value_filter is not None
            removed += _remove_where(call, group.id, action.value_filter)
    # An id both removed and re-added in one request nets out of neither list.
    _audit_members(call, group.id, added, removed)


def _patch_members(call: Call, group_id: str, actions: list[MemberAction]) -> Outcome:
    """A PATCH of members alone (what Entra and Okta send): the group row gets its new
    version in one UPDATE ... RETURNING, which also takes the row lock load_group would;
    If-Match is checked against the version it replaced (a mismatch rolls it back)."""
    group = GroupRepository(call.conn).touch(group_id, call.now)
    if group is None:
        raise errors.NotFound(f"no Group with id {group_id}")
    call.check_version(group.version - 1)
    _apply_member_actions(call, group, actions)
    return Outcome(204, None, group.version)


def _patch_group(call: Call, group_id: str, body: Any) -> Outcome:
    """PATCH answers 204: returning a 100,000-member group would cost more than the change."""
    ops = parse_operations(body)
    try:
        split = split_group_patch(ops)
    except errors.ScimError:
        call.check_version(load_group(call, group_id).version)  # 404 and 412 before a 400
        raise
    if not split.doc_ops:
        return _patch_members(call, group_id, split.member_actions)
    old = load_group(call, group_id)
    call.check_version(old.version)
    kind = call.registry.group
    patched = Patcher(kind, group_document(old)).apply(split.doc_ops)
    doc = normalise(kind, patched, extra_urns=EXTRA_URNS)
    check_required(kind, doc)
    check_immutable(kind, group_document(old), doc)
    group = _save(call, old, doc)  # bumps version and lastModified for member changes too
    _apply_member_actions(call, group, split.member_actions)
    return Outcome(204, None, group.version)


def _delete_group(call: Call, group_id: str) -> Outcome:
    old = load_group(call, group_id)
    call.check_version(old.version)
    GroupRepository(call.conn).bump_parents(old.id, call.now)
    GroupRepository(call.conn).delete(old.id)
    call.audit("scim.group.delete", "Group", old.id, before=render_group(old, call.base))
    return Outcome(204, None)


@contextmanager
def _watch_access(call: Call) -> Iterator[None]:
    """Issue 7 point 1: a group write that takes a client away from a user ends that
    client's access for them in this same transaction (``client_access``)."""
    issuer = str(call.ctx.settings.issuer) if call.ctx else call.base.removesuffix("/scim/v2")
    with client_access.group_write(call.conn, issuer, call.actor, call.info, call.now):
        yield


def replace_group(call: Call, group_id: str, body: Any) -> Outcome:
    with _watch_access(call):
        return _replace_group(call, group_id, body)


def patch_group(call: Call, group_id: str, body: Any) -> Outcome:
    with _watch_access(call):
        return _patch_group(call, group_id, body)


def delete_group(call: Call, group_id: str) -> Outcome:
    with _watch_access(call):
        return _delete_group(call, group_id)
