"""User writes (create, replace, patch, delete) inside a caller's transaction.

Shared by the /Users endpoints and Bulk. Each function validates, writes and audits in
``call.conn``; any error raised leaves the transaction (or savepoint) to roll back whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from ostiary.core.ids import new_id
from ostiary.directory.errors import UniquenessConflict, VersionConflict
from ostiary.directory.models import User
from ostiary.directory.passwords import hash_password
from ostiary.keys import scopes
from ostiary.scim import errors, schemas
from ostiary.scim.document import check_immutable, check_required, normalise
from ostiary.scim.patch import Operation, Patcher, parse_operations
from ostiary.scim.registry import ResourceKind
from ostiary.scim.users import (
    EXTRA_URNS,
    build_user,
    canonical_body,
    render_user,
    renders_no_secrets,
    user_document,
)
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.groups import GroupRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.scim.call import Call, Outcome
from ostiary.web.scim.lifecycle import on_user_deactivated

DEPROVISION_WHY = "deactivating or deleting a user needs users:deprovision"


def load_user(call: Call, user_id: str) -> User:
    user = UserRepository(call.conn).get(user_id, for_update=True)
    if user is None:
        raise errors.NotFound(f"no User with id {user_id}")
    return user


def render(
    call: Call, user: User, memberships: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """``user`` with its direct groups (``memberships``: (id, displayName) pairs, read
    here when not given)."""
    if memberships is None:
        memberships = GroupRepository(call.conn).groups_of(user.id)
    groups = [
        {"value": gid, "$ref": f"{call.base}/Groups/{gid}", "display": name, "type": "direct"}
        for gid, name in memberships
    ]
    return render_user(user, call.base, groups)


def _resolve_manager(call: Call, doc: dict[str, Any], user_id: str) -> None:
    resolve_manager(doc, user_id, lambda m: UserRepository(call.conn).get(m) is not None)


def resolve_manager(doc: dict[str, Any], user_id: str, exists: Callable[[str], bool]) -> None:
    """The manager must be an existing user (``exists``): 400 invalidValue, never a 500
    or a dangling id."""
    block: dict[str, Any] | None = doc.get(schemas.ENTERPRISE_USER)
    manager = block.get("manager") if block else None
    if not manager:
        return
    manager_id = manager.get("value")
    if not manager_id:
        raise errors.InvalidValue("manager.value is required")
    if manager_id == user_id:
        raise errors.InvalidValue("a user cannot be their own manager")
    if not exists(manager_id):
        raise errors.InvalidValue(f"manager {manager_id} is not an existing User")
    assert block is not None
    block["manager"] = {"value": manager_id}  # $ref is derived when rendering


def _write(call: Call, user: User, *, previous: User | None) -> None:
    repo = UserRepository(call.conn)
    try:
        if previous is None:
            repo.add(user)
        else:
            repo.update(user, previous.version, previous=previous)
    except UniquenessConflict as exc:
        raise errors.Uniqueness(str(exc)) from None
    except VersionConflict as exc:
        raise errors.ScimError(str(exc), status=409) from None


def create_user(call: Call, body: Any) -> Outcome:
    doc = canonical_body(call.registry.user, body)
    user_id = new_id()
    _resolve_manager(call, doc, user_id)
    user = build_user(doc, user_id=user_id, hash_password=hash_password, now=call.now)
    _write(call, user, previous=None)
    out = render_user(user, call.base)
    # Serialised once, sorted (as the audit entry needs it), for the entry and the answer.
    raw = orjson.dumps(out, option=orjson.OPT_SORT_KEYS)
    clean = renders_no_secrets(call.registry.user)
    call.audit("scim.user.create", "User", user.id, after=out, after_json=raw, after_clean=clean)
    return Outcome(201, out, user.version, out["meta"]["location"], raw)


def _save_changed(call: Call, old: User, doc: dict[str, Any], action: str) -> Outcome:
    kind = call.registry.user
    check_immutable(kind, user_document(old), doc)
    _resolve_manager(call, doc, old.id)
    deactivating = old.active and doc.get("active", True) is False
    if deactivating:
        call.require(scopes.USERS_DEPROVISION, DEPROVISION_WHY)
    user = build_user(doc, user_id=old.id, hash_password=hash_password, now=call.now, previous=old)
    _write(call, user, previous=old)
    before = render_user(old, call.base)
    out = render(call, user)
    if deactivating:
        # The update's event is appended with the deprovisioning's, in one batch at the end.
        event = call.audit_event(action, "User", user.id, before=before, after=out)
        on_user_deactivated(
            call.conn,
            user.id,
            actor=call.actor,
            request=call.info,
            now=call.now,
            reason="deactivated",
            ctx=call.ctx,
            first=[event],
        )
        return Outcome(200, out, user.version)
    call.audit(action, "User", user.id, before=before, after=out)
    if not old.active and user.active:
        call.audit("scim.user.reactivate", "User", user.id)
    return Outcome(200, out, user.version)


def replace_user(call: Call, user_id: str, body: Any) -> Outcome:
    old = load_user(call, user_id)
    call.check_version(old.version)
    doc = canonical_body(call.registry.user, body)
    return _save_changed(call, old, doc, "scim.user.update")


def patch_user(call: Call, user_id: str, body: Any) -> Outcome:
    ops = parse_operations(body)
    old = load_user(call, user_id)
    call.check_version(old.version)
    doc = patched_document(call.registry.user, old, ops)
    return _save_changed(call, old, doc, "scim.user.update")


def patched_document(kind: ResourceKind, old: User, ops: list[Operation]) -> dict[str, Any]:
    """The canonical document ``ops`` make of ``old`` (validated, not yet checked
    against ``old``'s immutable attributes: ``_save_changed`` does that)."""
    patched = Patcher(kind, user_document(old)).apply(ops)
    doc = normalise(kind, patched, extra_urns=EXTRA_URNS)
    check_required(kind, doc)
    return doc


def delete_user(call: Call, user_id: str) -> Outcome:
    call.require(scopes.USERS_DEPROVISION, DEPROVISION_WHY)
    old = load_user(call, user_id)
    call.check_version(old.version)
    event = call.audit_event("scim.user.delete", "User", old.id, before=render_user(old, call.base))
    if old.active:
        # The hook runs first so anything it revokes is still attached to the user row;
        # it appends the delete's event after its own, in its batch.
        on_user_deactivated(
            call.conn,
            old.id,
            actor=call.actor,
            request=call.info,
            now=call.now,
            reason="deleted",
            ctx=call.ctx,
            last=[event],
        )
    else:
        AuditLog(call.conn).append(event, call.now)
    GroupRepository(call.conn).bump_parents(old.id, call.now)
    UserRepository(call.conn).delete(old.id)
    return Outcome(204, None)
