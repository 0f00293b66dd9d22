"""The provisioning-key guards SCIM writes pass through (the keys area's policy, applied here).

- Attribute restrictions: a key limited to some attributes may write only those
  (``check_attributes`` for a single request; ``check_write`` for a Bulk operation, whose
  denial is audited inside the Bulk transaction).
- Deprovisioning bursts: before deactivating or deleting users, ``guard_deprovision``
  may hold the operation for a second administrator. A held operation is stored as the
  request itself and re-run by :func:`apply_held` once approved.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.audit.events import Actor, RequestInfo
from ostiary.keys.models import KeyPrincipal
from ostiary.web.context import AppContext
from ostiary.web.keys import approvals
from ostiary.web.keys.guards import DEPROVISION, guard_deprovision, held_response
from ostiary.web.scim.call import Call, registry

_FALSE = (False, "false", "False", "FALSE")


def _sets_inactive(value: Any) -> bool:
    return value in _FALSE


def deactivations(method: str, body: Any) -> int:
    """How many users a PUT/PATCH body deactivates (0 or 1), read before any database work."""
    if not isinstance(body, dict):
        return 0
    if method == "PUT":
        return int(
            _sets_inactive(next((v for k, v in body.items() if k.lower() == "active"), True))
        )
    for op in body.get("Operations") or []:
        if not isinstance(op, dict) or str(op.get("op", "")).lower() == "remove":
            continue
        path, value = op.get("path"), op.get("value")
        if isinstance(path, str) and path.strip().lower().endswith("active"):
            if _sets_inactive(value):
                return 1
        elif (
            path is None
            and isinstance(value, dict)
            and any(k.lower() == "active" and _sets_inactive(v) for k, v in value.items())
        ):
            return 1
    return 0


def hold(
    request: Request, principal: KeyPrincipal, count: int, operation: dict[str, Any]
) -> Response | None:
    """A 202 "held" response when this deprovisioning burst waits for approval, else None."""
    if count <= 0:
        return None
    approval = guard_deprovision(request, principal, count, operation)
    return None if approval is None else held_response(approval)


def apply_held(ctx: AppContext, payload: dict[str, Any]) -> None:
    """Run an approved, held SCIM request in its own transaction, on behalf of the key that
    sent it (the approval itself is audited by the approvals area)."""
    from ostiary.web.scim import bulk, user_ops

    actor = Actor(kind="key", id=str(payload.get("key_id")), auth="approved")
    held_scopes = frozenset(payload.get("scopes") or ())
    restrictions = payload.get("attributes")
    principal = KeyPrincipal(
        key_id=actor.id,
        version=0,
        name="approved",
        scopes=held_scopes,
        attributes={k: frozenset(v) for k, v in restrictions.items()} if restrictions else None,
    )
    with ctx.db.begin() as conn:
        call = Call(
            conn=conn,
            base=ctx.scim_base,
            registry=registry(ctx),
            now=ctx.clock.now(),
            actor=actor,
            scopes=held_scopes,
            info=RequestInfo(request_id=payload.get("request_id")),
            principal=principal,
            ctx=ctx,
        )
        kind, target, body = payload.get("kind"), payload.get("id"), payload.get("body")
        if kind == "bulk":
            bulk.run_held(call, body)
        elif kind == "delete":
            user_ops.delete_user(call, str(target))
        elif kind == "put":
            user_ops.replace_user(call, str(target), body)
        elif kind == "patch":
            user_ops.patch_user(call, str(target), body)


def operation(principal: KeyPrincipal, request: Request, kind: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "key_id": principal.key_id,
        "scopes": sorted(principal.scopes),
        "attributes": {k: sorted(v) for k, v in (principal.attributes or {}).items()} or None,
        "request_id": request.scope.get("state", {}).get("request_id"),
        **extra,
    }


approvals.register(DEPROVISION, apply_held)
