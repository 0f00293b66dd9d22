"""Who is calling a SCIM endpoint: a verified provisioning key with the needed scope."""

from __future__ import annotations

from starlette.requests import Request

from ostiary.audit.events import AuditEvent
from ostiary.keys.errors import InsufficientScope, InvalidKey
from ostiary.keys.models import KeyPrincipal
from ostiary.keys.verify import parse_bearer
from ostiary.scim.errors import Forbidden, Unauthorized
from ostiary.store.repositories.audit import AuditLog
from ostiary.web.audit import key_actor, request_info
from ostiary.web.context import AppContext
from ostiary.web.logs import get_logger
from ostiary.web.oauth import resource as oauth_resource

log = get_logger("ostiary.auth")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ostiary-scim"'}


class AuthFailed(Unauthorized):
    """A 401 that carries the challenge header (RFC 6750 section 3)."""

    headers = CHALLENGE


def authenticate(request: Request, scope: str) -> KeyPrincipal:
    ctx: AppContext = request.app.state.ctx
    try:
        header = request.headers.get("authorization")
        if oauth_resource.is_oauth_token(header):  # an access token from /token (oidc)
            principal = oauth_resource.verify_access_token(request)
        else:
            principal = ctx.keys.verify(parse_bearer(header))
    except InvalidKey as exc:
        log.info("scim.auth.refused", reason=exc.reason)
        raise AuthFailed("a valid provisioning key is required") from None
    try:
        principal.require(scope)
    except InsufficientScope as exc:
        log.info("scim.auth.out_of_scope", key_id=principal.key_id, needed=exc.needed)
        event = AuditEvent(
            action="auth.scope.denied",
            actor=key_actor(principal),
            outcome="denied",
            request=request_info(request),
            detail={"needed": exc.needed, "method": request.method, "path": request.url.path},
        )
        with ctx.db.begin() as conn:
            AuditLog(conn).append(event, ctx.clock.now())
        raise Forbidden(str(exc)) from None
    request.state.principal = principal
    return principal
