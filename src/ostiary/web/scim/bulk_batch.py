"""Bulk's batched path: a run of consecutive POST /Users operations in a few statements.

RFC 7644 section 3.7 semantics are those of the one-at-a-time path (``bulk._run_one``),
which each operation here would otherwise take:

- Every operation is decided before anything is written, in request (dependency) order:
  attribute restrictions, validation, the manager reference, and userName uniqueness
  against the stored users *and* the operations before it in the run (the first of two
  equal userNames wins; the second gets 409 uniqueness, as it would one at a time).
- Only the operations that would succeed are written: one ``IN`` query checked them, one
  multi-row insert per table writes them, one ``append_many`` audits them, all in one
  savepoint. A failing operation therefore fails alone and leaves nothing behind.
- ``failOnErrors``: the run stops at the operation whose failure reaches the limit; the
  operations after it are neither decided nor written, and get no result.
- A run only holds operations whose bulkId references are already resolved, so a
  reference to an operation of the same run ends the run before it (forward, nested and
  circular references keep the one-at-a-time path's order and errors).
- Anything unexpected while writing (a constraint a concurrent writer made fail) rolls
  the savepoint back and the caller runs the whole run one operation at a time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import IntegrityError

from ostiary.audit.events import AuditEvent
from ostiary.core.ids import new_id
from ostiary.directory.models import User, normalise_user_name
from ostiary.directory.passwords import hash_password
from ostiary.keys import scopes
from ostiary.keys.errors import AttributeNotAllowed
from ostiary.keys.restrictions import check_write, patch_paths, resource_paths
from ostiary.scim import errors, schemas
from ostiary.scim.bulk import BulkOp, substitute
from ostiary.scim.users import build_user, canonical_body, etag, render_user, renders_no_secrets
from ostiary.store.repositories.users_batch import add_users, existing_user_ids, taken_user_names
from ostiary.web.scim.call import Call, Outcome

MIN_RUN = 2  # a single operation gains nothing from the batch


@dataclass
class Done:
    """One decided operation: its Bulk response entry, and whether it failed."""

    op: BulkOp
    result: dict[str, Any]
    failed: bool


def result(op: BulkOp, base: str, path: str, outcome: Outcome) -> dict[str, Any]:
    out: dict[str, Any] = {"method": op.method, "status": str(outcome.status)}
    if op.bulk_id:
        out["bulkId"] = op.bulk_id
    out["location"] = outcome.location or f"{base}{path}"
    if outcome.version is not None:
        out["version"] = etag(outcome.version)
    return out


def failure(op: BulkOp, exc: errors.ScimError) -> dict[str, Any]:
    out: dict[str, Any] = {"method": op.method, "status": str(exc.status), "response": exc.body()}
    if op.bulk_id:
        out["bulkId"] = op.bulk_id
    return out


def attribute_denial(
    call: Call, op: BulkOp, path: str, data: Any
) -> tuple[AuditEvent, errors.ScimError] | None:
    """The key's attribute restrictions for one operation: the audit event of a denial
    and the error to answer with, or None when allowed."""
    if call.principal is None or op.method == "DELETE":
        return None
    resource = "User" if path.startswith("/Users") else "Group"
    paths = patch_paths(data) if op.method == "PATCH" else resource_paths(data)
    try:
        check_write(call.principal, resource, paths)
    except AttributeNotAllowed as exc:
        detail = {"attributes": exc.attributes, "method": op.method}
        target = op.bulk_id or str(op.index + 1)
        event = call.event("auth.attributes.denied", resource, target, detail=detail)
        return event, errors.Forbidden(str(exc))
    return None


def creates_run(call: Call, ops: list[BulkOp], at: int, ids: dict[str, str]) -> list[BulkOp]:
    """The POST /Users operations from ``ops[at]`` on that can be decided together."""
    if scopes.USERS_WRITE not in call.scopes:
        return []
    run: list[BulkOp] = []
    for op in ops[at:]:
        if op.method != "POST" or op.path != "/Users" or not op.needs <= ids.keys():
            break
        run.append(op)
    return run if len(run) >= MIN_RUN else []


@dataclass
class _Prep:
    op: BulkOp
    doc: dict[str, Any] | None = None
    error: errors.ScimError | None = None
    denial: AuditEvent | None = None


def _prepare(call: Call, op: BulkOp, ids: dict[str, str]) -> _Prep:
    data = substitute(op.data, ids)
    denied = attribute_denial(call, op, "/Users", data)
    if denied is not None:
        return _Prep(op, error=denied[1], denial=denied[0])
    try:
        doc = canonical_body(call.registry.user, data)
        manager = (doc.get(schemas.ENTERPRISE_USER) or {}).get("manager")
        if manager and not manager.get("value"):
            raise errors.InvalidValue("manager.value is required")
    except errors.ScimError as exc:
        return _Prep(op, error=exc)
    return _Prep(op, doc=doc)


def _manager_of(doc: dict[str, Any]) -> str | None:
    block = doc.get(schemas.ENTERPRISE_USER)
    manager = block.get("manager") if block else None
    return str(manager["value"]) if manager else None


def _decide(call: Call, prep: _Prep, managers: set[str], taken: set[str]) -> User:
    """The user this operation creates, or the ScimError it fails with (nothing written)."""
    assert prep.doc is not None
    manager_id = _manager_of(prep.doc)
    if manager_id is not None:
        if manager_id not in managers:
            raise errors.InvalidValue(f"manager {manager_id} is not an existing User")
        prep.doc[schemas.ENTERPRISE_USER]["manager"] = {"value": manager_id}
    user = build_user(prep.doc, user_id=new_id(), hash_password=hash_password, now=call.now)
    if user.user_name_key in taken:
        raise errors.Uniqueness(f"userName {user.user_name!r} is already taken")
    taken.add(user.user_name_key)
    return user


def create_users(
    call: Call, run: list[BulkOp], ids: dict[str, str], allowance: int | None
) -> list[Done] | None:
    """Decide and write ``run``; ``allowance`` is how many more failures failOnErrors
    permits (None: no limit). None means "run these one at a time" (nothing was kept)."""
    preps = [_prepare(call, op, ids) for op in run]
    docs = [p.doc for p in preps if p.doc is not None]
    wanted = {m for m in map(_manager_of, docs) if m is not None}
    managers = existing_user_ids(call.conn, wanted) if wanted else set()
    taken = taken_user_names(call.conn, (normalise_user_name(str(d["userName"])) for d in docs))
    done: list[Done] = []
    events: list[AuditEvent] = []
    created: list[tuple[BulkOp, User, dict[str, Any]]] = []
    failures = 0
    clean = renders_no_secrets(call.registry.user)
    for prep in preps:
        if prep.denial is not None:
            events.append(prep.denial)
        try:
            if prep.error is not None:
                raise prep.error
            user = _decide(call, prep, managers, taken)
        except errors.ScimError as exc:
            done.append(Done(prep.op, failure(prep.op, exc), True))
            failures += 1
            if allowance is not None and failures >= allowance:
                break
            continue
        out = render_user(user, call.base)
        events.append(call.event("scim.user.create", "User", user.id, after=out, after_clean=clean))
        created.append((prep.op, user, out))
        done.append(Done(prep.op, {}, False))
    try:
        with call.savepoint():
            add_users(call.conn, [user for _, user, _ in created])
            call.audit_many(events)
    except IntegrityError:
        return None
    outcomes = {id(op): (user, out) for op, user, out in created}
    for d in done:
        if d.failed:
            continue
        user, out = outcomes[id(d.op)]
        location = out["meta"]["location"]
        d.result = result(d.op, call.base, "/Users", Outcome(201, out, user.version, location))
        if d.op.bulk_id:
            ids[d.op.bulk_id] = user.id
    return done
