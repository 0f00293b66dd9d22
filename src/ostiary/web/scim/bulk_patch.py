"""Bulk's batched path for runs of PATCH /Users/{id}: read, decide, write in a few statements.

One at a time (``bulk._run_one``), each PATCH costs a savepoint, a locked read, the
update, a read of its groups and an audit entry: about eleven driver calls. Here a run of
consecutive PATCHes of users reads its targets in one locked query and their groups in
another, applies each PatchOp in memory with the one-at-a-time path's code
(``user_ops.patched_document``, ``resolve_manager``, ``build_user``), and writes every
operation that succeeds in one ``executemany`` with its audit events, in one savepoint.

RFC 7644 section 3.7 semantics are those of the one-at-a-time path:

- Operations are decided in request order against the users *as the operations before
  them left them*: a second PATCH of the same user sees the first one's result and
  version (If-Match, the ``version`` of a bulk operation, answers 412 against it).
- Each operation's checks come in the order the single path makes them (its PatchOp
  syntax, 404, 412, the patch itself, immutable attributes, the manager, userName
  uniqueness), so each gets the same status and error. A failing operation writes
  nothing: only the operations that succeed are written, each row as the single path
  would write it, in order (each update names the version it expects).
- userName uniqueness (409) is checked against the stored users and the renames of the
  operations before it in the run (two operations renaming to one userName: the first
  wins).
- Deactivation revokes sessions and tokens and queues signals (``lifecycle``): the run
  never holds an operation that may deactivate (``guards.deactivations``), and one that
  does anyway ends the run before it, to go one at a time. A reactivation is audited as
  the single path audits it.
- ``failOnErrors``: the run stops at the failure that reaches the limit.
- Anything unexpected while writing (a constraint the batch does not check) rolls the
  savepoint back and the caller runs the whole run one operation at a time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ostiary.audit.events import AuditEvent
from ostiary.directory.models import User
from ostiary.directory.passwords import hash_password
from ostiary.keys import scopes
from ostiary.scim import errors
from ostiary.scim.bulk import BulkOp, substitute
from ostiary.scim.document import check_immutable
from ostiary.scim.patch import parse_operations
from ostiary.scim.users import build_user, render_user, user_document
from ostiary.store.repositories.users import _email_rows
from ostiary.store.repositories.users_batch import (
    StaleBatch,
    existing_user_ids,
    groups_of_many,
    update_users,
    user_name_owner,
    users_for_update,
)
from ostiary.web.scim import guards
from ostiary.web.scim.bulk_batch import Done, attribute_denial, failure, result
from ostiary.web.scim.call import Call, Outcome, check_if_match
from ostiary.web.scim.user_ops import patched_document, render, resolve_manager

MIN_RUN = 2  # a single operation gains nothing from the batch
_USER = re.compile(r"^/Users/([^/]+)$")


def _target(op: BulkOp, ids: dict[str, str]) -> str | None:
    """The user id a PATCH addresses, when the batch may run it (else None: the single
    path answers a bad path, an unresolved reference, or a reference in the id)."""
    if op.method != "PATCH" or not op.needs <= ids.keys():
        return None
    m = _USER.match(substitute(op.path, ids))
    if m is None or m.group(1).startswith("bulkId:") or guards.deactivations("PATCH", op.data):
        return None
    return m.group(1)


def patches_run(call: Call, ops: list[BulkOp], at: int, ids: dict[str, str]) -> list[BulkOp]:
    """The PATCH /Users/{id} operations from ``ops[at]`` on that can be decided together."""
    if scopes.USERS_WRITE not in call.scopes:
        return []
    run: list[BulkOp] = []
    for op in ops[at:]:
        if _target(op, ids) is None:
            break
        run.append(op)
    return run if len(run) >= MIN_RUN else []


class _Cut(Exception):
    """This operation deactivates: it must run one at a time (``lifecycle``)."""


@dataclass
class _View:
    """The users of the run as the operations decided so far left them."""

    conn: Connection
    users: dict[str, User]
    owners: dict[str, str | None] = field(default_factory=dict)  # userName key -> id
    managers: dict[str, bool] = field(default_factory=dict)

    def owner(self, key: str) -> str | None:
        if key not in self.owners:
            self.owners[key] = user_name_owner(self.conn, key)
        return self.owners[key]

    def manager_exists(self, manager_id: str) -> bool:
        # A PATCH neither creates nor deletes users: what is stored now holds for the run.
        if manager_id not in self.managers:
            found = existing_user_ids(self.conn, [manager_id])
            self.managers[manager_id] = manager_id in found
        return self.managers[manager_id]

    def decide(self, call: Call, op: BulkOp, user_id: str, data: Any) -> tuple[User, User]:
        """(the user before, after) this operation, or its ScimError (nothing changed)."""
        ops = parse_operations(data)
        old = self.users.get(user_id)
        if old is None:
            raise errors.NotFound(f"no User with id {user_id}")
        check_if_match(op.version, old.version)
        kind = call.registry.user
        doc = patched_document(kind, old, ops)
        check_immutable(kind, user_document(old), doc)
        resolve_manager(doc, old.id, self.manager_exists)
        if old.active and doc.get("active", True) is False:
            raise _Cut
        user = build_user(
            doc, user_id=old.id, hash_password=hash_password, now=call.now, previous=old
        )
        if user.user_name_key != old.user_name_key:
            if self.owner(user.user_name_key) not in (None, user.id):
                raise errors.Uniqueness(f"userName {user.user_name!r} is already taken")
            self.owners[old.user_name_key] = None
            self.owners[user.user_name_key] = user.id
        self.users[user_id] = user
        return old, user


@dataclass
class _Batch:
    done: list[Done] = field(default_factory=list)
    events: list[AuditEvent] = field(default_factory=list)
    writes: list[tuple[User, int]] = field(default_factory=list)  # (user, expected version)
    failures: int = 0
    cut: bool = False


def patch_users(
    call: Call, run: list[BulkOp], ids: dict[str, str], allowance: int | None
) -> tuple[list[Done], bool] | None:
    """Decide and write ``run``; ``allowance`` is how many more failures failOnErrors
    permits (None: no limit). Returns the decided operations (in order; fewer than the
    run when failOnErrors stopped it, or when the next one must run one at a time: then
    True), or None: "run these one at a time" (nothing was kept)."""
    targets = [str(_target(op, ids)) for op in run]
    stored = users_for_update(call.conn, targets)
    originals = dict(stored)
    memberships = groups_of_many(call.conn, stored)
    view, batch = _View(call.conn, stored), _Batch()
    for op, user_id in zip(run, targets, strict=True):
        path, data = substitute(op.path, ids), substitute(op.data, ids)
        if not _decide_one(call, view, batch, (op, path, data, user_id), memberships):
            break
        if allowance is not None and batch.failures >= allowance:
            break
    changed = [u for i, u in view.users.items() if _email_rows(u) != _email_rows(originals[i])]
    try:
        with call.savepoint():
            update_users(call.conn, batch.writes, changed)
            call.audit_many(batch.events)
    except (IntegrityError, StaleBatch):
        return None
    return batch.done, batch.cut


def _decide_one(
    call: Call,
    view: _View,
    batch: _Batch,
    item: tuple[BulkOp, str, Any, str],
    memberships: dict[str, list[tuple[str, str]]],
) -> bool:
    """Decide ``item`` (the operation, its path and data with bulkIds resolved, the
    user it addresses) into ``batch``; False when it must run one at a time instead."""
    op, path, data, user_id = item
    denied = attribute_denial(call, op, path, data)
    try:
        if denied is not None:
            batch.events.append(denied[0])
            raise denied[1]
        old, user = view.decide(call, op, user_id, data)
    except _Cut:
        batch.cut = True
        return False
    except errors.ScimError as exc:
        batch.done.append(Done(op, failure(op, exc), True))
        batch.failures += 1
        return True
    out = render(call, user, memberships.get(user_id, []))
    batch.events.append(
        call.event("scim.user.update", "User", user.id, render_user(old, call.base), out)
    )
    if not old.active and user.active:
        batch.events.append(call.event("scim.user.reactivate", "User", user.id))
    batch.writes.append((user, old.version))
    batch.done.append(Done(op, result(op, call.base, path, Outcome(200, out, user.version)), False))
    return True
