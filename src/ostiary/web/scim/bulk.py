"""POST /scim/v2/Bulk (RFC 7644 section 3.7).

The request runs in one transaction and each operation in its own savepoint: a failed
operation rolls back alone, and the others commit. Runs of creates and of PATCHes of
users are decided together and write only their successful operations, in one savepoint
(``bulk_batch``, ``bulk_patch``), with the same answers. The key needs the ``bulk`` scope and,
for each operation, the scope that operation would need on its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.keys import scopes
from ostiary.scim import errors, schemas
from ostiary.scim.bulk import BulkOp, order, parse_bulk, substitute
from ostiary.web.context import AppContext
from ostiary.web.scim import group_ops, guards, user_ops
from ostiary.web.scim.auth import authenticate
from ostiary.web.scim.bulk_batch import (
    Done,
    attribute_denial,
    create_users,
    creates_run,
    failure,
    result,
)
from ostiary.web.scim.bulk_patch import patch_users, patches_run
from ostiary.web.scim.call import Call, Outcome, ScopeDenied, new_call
from ostiary.web.scim.endpoint import parse_json, scim_endpoint
from ostiary.web.scim.responses import scim_json

_PATH = re.compile(r"^/(Users|Groups)(?:/([^/]+))?$")
Op = Callable[[Call], Outcome]


def _dispatch(op: BulkOp, path: str, data: Any) -> tuple[str, Op]:
    """The scope and the operation function for one bulk operation."""
    m = _PATH.match(path)
    if m is None:
        raise errors.InvalidPath(f"bulk operations address /Users or /Groups, not {path}")
    kind, rid = m.group(1), m.group(2)
    ops: Any = user_ops if kind == "Users" else group_ops
    scope = scopes.USERS_WRITE if kind == "Users" else scopes.GROUPS_WRITE
    noun = "user" if kind == "Users" else "group"
    if op.method == "POST":
        if rid is not None:
            raise errors.InvalidPath("POST addresses the collection")
        return scope, lambda call: getattr(ops, f"create_{noun}")(call, data)
    if rid is None:
        raise errors.InvalidPath(f"{op.method} needs a resource id in the path")
    if rid.startswith("bulkId:"):
        raise errors.InvalidValue(f"{rid} does not refer to a created resource")
    if op.method == "DELETE":
        if kind == "Users":
            scope = scopes.USERS_DEPROVISION
        return scope, lambda call: getattr(ops, f"delete_{noun}")(call, rid)
    verb = "replace" if op.method == "PUT" else "patch"
    return scope, lambda call: getattr(ops, f"{verb}_{noun}")(call, rid, data)


def _check_attributes(call: Call, op: BulkOp, path: str, data: Any) -> None:
    """The key's attribute restrictions, per operation; the denial is audited in the Bulk
    transaction (a second transaction here would wait on this one's write lock)."""
    denied = attribute_denial(call, op, path, data)
    if denied is not None:
        call.audit_many([denied[0]])
        raise denied[1]


def _deprovisions(ops: list[BulkOp]) -> int:
    count = 0
    for op in ops:
        if not op.path.startswith("/Users/"):
            continue
        if op.method == "DELETE":
            count += 1
        elif op.method in {"PUT", "PATCH"}:
            count += guards.deactivations(op.method, op.data)
    return count


def run_held(call: Call, body: Any) -> None:
    """An approved, held Bulk request (see :mod:`ostiary.web.scim.guards`)."""
    req = parse_bulk(body, max_operations=len(body.get("Operations") or []) or 1)
    with call.deferred() as events:
        results = _run(call, req.ops, req.fail_on_errors)
        events.append(_summary(call, results))


def _run_one(call: Call, op: BulkOp, ids: dict[str, str]) -> dict[str, Any]:
    path = substitute(op.path, ids)
    data = substitute(op.data, ids)
    unresolved: set[str] = set()
    for name in op.needs:
        if name not in ids:
            unresolved.add(name)
    if unresolved:
        raise errors.ScimError(
            f"bulkId {sorted(unresolved)[0]} cannot be resolved (unknown, failed or circular)",
            status=409,
            scim_type="invalidValue",
        )
    scope, fn = _dispatch(op, path, data)
    call.require(scope, f"{op.method} {path}")
    _check_attributes(call, op, path, data)
    call.if_match = op.version
    with call.savepoint():
        outcome = fn(call)
    if op.method == "POST" and op.bulk_id and outcome.body is not None:
        ids[op.bulk_id] = outcome.body["id"]
    return result(op, call.base, path, outcome)


def _one(call: Call, op: BulkOp, ids: dict[str, str]) -> Done:
    try:
        return Done(op, _run_one(call, op, ids), False)
    except errors.ScimError as exc:
        if isinstance(exc, ScopeDenied):
            call.audit(
                "auth.scope.denied",
                "Bulk",
                op.bulk_id or str(op.index + 1),
                detail={"needed": exc.needed, "method": op.method, "path": op.path},
            )
        return Done(op, failure(op, exc), True)


def _batched(
    call: Call, queue: list[BulkOp], at: int, ids: dict[str, str], allowance: int | None
) -> tuple[list[Done] | None, int]:
    """The operations a batched path decided from ``queue[at]`` on (None: none), and how
    many operations after them must run one at a time (a run that could not be written,
    or the operation a run of PATCHes stopped before)."""
    run = creates_run(call, queue, at, ids)
    if run:
        done = create_users(call, run, ids, allowance)
        return (done, 0) if done is not None else (None, len(run))
    run = patches_run(call, queue, at, ids)
    if run:
        decided = patch_users(call, run, ids, allowance)
        if decided is None:
            return None, len(run)
        return decided[0], int(decided[1])
    return None, 0


def _run(call: Call, ops: list[BulkOp], fail_on_errors: int | None) -> list[dict[str, Any]]:
    """Operations in dependency order; runs of POST /Users and of PATCH /Users/{id} go
    through the batched paths (:mod:`ostiary.web.scim.bulk_batch`,
    :mod:`ostiary.web.scim.bulk_patch`), everything else one at a time."""
    ids: dict[str, str] = {}
    results: dict[int, dict[str, Any]] = {}
    failures = 0
    queue = order(ops)
    at = single_until = 0
    while at < len(queue):
        done = None
        if at >= single_until:
            allowance = None if fail_on_errors is None else fail_on_errors - failures
            done, single = _batched(call, queue, at, ids, allowance)
            single_until = at + len(done or ()) + single
        if done:  # all decided, or stopped at failOnErrors (the loop ends below)
            at += len(done)
        else:
            done = [_one(call, queue[at], ids)]
            at += 1
        for d in done:
            results[d.op.index] = d.result
            failures += d.failed
        if fail_on_errors is not None and failures >= fail_on_errors:
            break
    return [results[i] for i in sorted(results)]


@scim_endpoint
def bulk(request: Request, raw: bytes) -> Response:
    ctx: AppContext = request.app.state.ctx
    principal = authenticate(request, scopes.BULK)
    limit = ctx.settings.scim_bulk_max_payload_bytes
    if len(raw) > limit:
        raise errors.PayloadTooLarge(f"the bulk request exceeds maxPayloadSize ({limit} bytes)")
    body = parse_json(raw)
    req = parse_bulk(body, max_operations=ctx.settings.scim_bulk_max_operations)
    held = guards.hold(
        request,
        principal,
        _deprovisions(req.ops),
        guards.operation(principal, request, "bulk", body=body),
    )
    if held is not None:
        return held
    with ctx.db.begin() as conn:
        call = new_call(ctx, conn, request, principal)
        with call.deferred() as events:
            results = _run(call, req.ops, req.fail_on_errors)
            events.append(_summary(call, results))
    return scim_json({"schemas": [schemas.BULK_RESPONSE], "Operations": results})


def _summary(call: Call, results: list[dict[str, Any]]) -> Any:
    from ostiary.audit.events import AuditEvent

    failed = sum(1 for r in results if int(r["status"]) >= 400)
    return AuditEvent(
        action="scim.bulk",
        actor=call.actor,
        outcome="success" if not failed else "failure",
        request=call.info,
        detail={"operations": len(results), "failed": failed},
    )
