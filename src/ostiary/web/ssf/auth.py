"""Receivers authenticate with a provisioning key holding ``ssf:manage`` (a bearer
credential, RFC 6750). The key is the receiver: its streams are its own."""

from __future__ import annotations

from starlette.requests import Request

from ostiary.audit.events import AuditEvent
from ostiary.keys.errors import InsufficientScope, InvalidKey
from ostiary.keys.models import KeyPrincipal
from ostiary.keys.scopes import SSF_MANAGE
from ostiary.keys.verify import parse_bearer
from ostiary.store.repositories.audit import AuditLog
from ostiary.web.audit import key_actor, request_info
from ostiary.web.context import AppContext
from ostiary.web.logs import get_logger
from ostiary.web.ssf.http import AuthError

log = get_logger("ostiary.auth")


def authenticate(request: Request) -> KeyPrincipal:
    ctx: AppContext = request.app.state.ctx
    header = request.headers.get("authorization")
    try:
        principal = ctx.keys.verify(parse_bearer(header))
    except InvalidKey as exc:
        log.info("ssf.auth.refused", reason=exc.reason)
        # RFC 6750 section 3.1: no error code when no credential was offered at all.
        code = None if exc.reason == "missing" else "invalid_token"
        raise AuthError(401, code, "a valid provisioning key is required") from None
    try:
        principal.require(SSF_MANAGE)
    except InsufficientScope as exc:
        log.info("ssf.auth.out_of_scope", key_id=principal.key_id)
        event = AuditEvent(
            action="auth.scope.denied",
            actor=key_actor(principal),
            outcome="denied",
            request=request_info(request),
            detail={"needed": exc.needed, "method": request.method, "path": request.url.path},
        )
        with ctx.db.begin() as conn:
            AuditLog(conn).append(event, ctx.clock.now())
        raise AuthError(403, "insufficient_scope", str(exc), SSF_MANAGE) from None
    request.state.principal = principal
    return principal
