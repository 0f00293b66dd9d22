"""What SCIM handlers call beyond ``authenticate``: attribute restrictions and the
deprovisioning-burst guard.

- ``check_attributes(request, principal, "User", body, patch=False)`` before a write:
  403 (SCIM error) and an audit event when the key may not write an attribute.
- ``guard_deprovision(request, principal, count, operation)`` before deactivating or
  deleting ``count`` users: ``None`` to go ahead, or the id of an approval record when the
  burst is held for a second administrator (answer with ``held_response(id)``; the
  operation is applied by the handler registered with ``approvals.register`` once
  approved).
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ostiary.audit.events import AuditEvent
from ostiary.core.ids import new_id
from ostiary.keys.anomaly import Action
from ostiary.keys.errors import AttributeNotAllowed
from ostiary.keys.models import KeyPrincipal
from ostiary.keys.restrictions import check_write, patch_paths, resource_paths
from ostiary.scim.errors import Forbidden
from ostiary.store.repositories.admin_tokens import ApprovalRepository
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.keys import KeyRepository
from ostiary.web.audit import key_actor, request_info

DEPROVISION = "scim.deprovision"
_user_count: dict[int, tuple[float, int]] = {}


def check_attributes(
    request: Request, principal: KeyPrincipal, resource: str, body: Any, *, patch: bool = False
) -> None:
    paths = patch_paths(body) if patch else resource_paths(body)
    try:
        check_write(principal, resource, paths)
    except AttributeNotAllowed as exc:
        ctx = request.app.state.ctx
        event = AuditEvent(
            action="auth.attributes.denied",
            actor=key_actor(principal),
            outcome="denied",
            target_type=resource,
            request=request_info(request),
            detail={"attributes": exc.attributes, "method": request.method},
        )
        with ctx.db.begin() as conn:
            AuditLog(conn).append(event, ctx.clock.now())
        raise Forbidden(str(exc)) from None


def _total_users(ctx: Any) -> int:
    """The number of users, cached for a minute (the share needs only a rough total)."""
    cached = _user_count.get(id(ctx))
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    with ctx.db.read() as conn:
        total = KeyRepository(conn).count_users()
    _user_count[id(ctx)] = (now + 60.0, total)
    return total


def guard_deprovision(
    request: Request, principal: KeyPrincipal, count: int, operation: dict[str, Any]
) -> str | None:
    from ostiary.web.scim.auth import _service

    ctx = request.app.state.ctx
    rt = ctx.key_runtime
    total = _total_users(ctx)
    anomaly = rt.anomalies.check_deprovision(
        principal.key_id, count, total, ctx.clock.monotonic(), commit=True
    )
    if anomaly is None:
        return None
    if anomaly.action is not Action.HOLD:
        _service(ctx).security_event(anomaly, request_info(request))
        return None
    approval_id = new_id()
    with ctx.db.begin() as conn:
        ApprovalRepository(conn).add(
            approval_id,
            DEPROVISION,
            principal.key_id,
            operation,
            f"key:{principal.key_id}",
            ctx.clock.now(),
        )
        AuditLog(conn).append(
            AuditEvent(
                action="key.anomaly.deprovision_burst",
                actor=key_actor(principal),
                outcome="denied",
                target_type="Approval",
                target_id=approval_id,
                request=request_info(request),
                detail={**anomaly.detail, "action": "hold"},
            ),
            ctx.clock.now(),
        )
    rt.notifier.emit(
        {
            "event": "key.security_event",
            "kind": anomaly.kind.value,
            "key_id": principal.key_id,
            "action": "hold",
            "approval": approval_id,
        }
    )
    return approval_id


def held_response(approval_id: str) -> Response:
    """202: accepted but not applied until a second administrator approves it."""
    body = {
        "status": "held",
        "approval": approval_id,
        "detail": "deprovisioning burst: held for a second administrator's approval",
    }
    return Response(orjson.dumps(body), status_code=202, media_type="application/scim+json")
