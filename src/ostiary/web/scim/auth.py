"""Who is calling a SCIM endpoint: a verified provisioning key with the needed scope.

``authenticate(request, scope)`` is the one call every SCIM handler makes. In order, each
step cheaper than the next: the per-IP rate limit and the failed-authentication lock for
the IP (no I/O in-process), the token's shape and checksum (no I/O), the lock on that key
id, verification (cache, then one read), DPoP requirement, the CIDR allow-list, the
per-key rate limit, last-use bookkeeping in memory, anomaly checks, and the scope.

Handlers that write attributes call :func:`check_attributes`; handlers that deprovision
users call :func:`guard_deprovision` (both in :mod:`ostiary.web.keys.guards`).
"""

from __future__ import annotations

import math

from starlette.requests import Request

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.keys import format as key_format
from ostiary.keys.errors import InsufficientScope, InvalidKey
from ostiary.keys.models import KeyPrincipal
from ostiary.keys.ratelimit import Decision
from ostiary.keys.restrictions import ip_allowed, network_of
from ostiary.keys.verify import parse_bearer
from ostiary.scim.errors import Forbidden, ScimError, Unauthorized
from ostiary.store.repositories.audit import AuditLog
from ostiary.web.audit import key_actor, request_info
from ostiary.web.context import AppContext
from ostiary.web.keys.guards import check_attributes, guard_deprovision, held_response
from ostiary.web.keys.runtime import KeyRuntime
from ostiary.web.keys.service import KeyService
from ostiary.web.logs import get_logger
from ostiary.web.oauth import resource as oauth_resource

__all__ = [
    "AuthFailed",
    "authenticate",
    "check_attributes",
    "guard_deprovision",
    "held_response",
    "limit_ip",
]

log = get_logger("ostiary.auth")
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ostiary-scim"'}
DPOP_CHALLENGE = {
    "WWW-Authenticate": (
        'Bearer realm="ostiary-scim", error="invalid_token", '
        'error_description="this key requires DPoP: obtain a DPoP-bound access token", '
        # RFC 9449 s7.1: every alg a proof may use (the ones discovery advertises).
        f'DPoP algs="{oauth_resource.ALGS}"'
    )
}
_AUDITED_REFUSALS = {"unknown", "wrong", "expired", "revoked", "disabled", "rotated", "idle"}


class AuthFailed(Unauthorized):
    """A 401 that carries the challenge header (RFC 6750 section 3)."""

    headers = CHALLENGE


class DPoPRequired(Unauthorized):
    headers = DPOP_CHALLENGE


class TooManyRequests(ScimError):
    """429 with Retry-After (RFC 9110 section 10.2.3) and the RateLimit header fields."""

    status = 429

    def __init__(self, detail: str, decision: Decision) -> None:
        super().__init__(detail)
        self.headers = {
            "Retry-After": str(max(1, math.ceil(decision.retry_after))),
            "RateLimit-Limit": str(decision.limit),
            "RateLimit-Remaining": str(decision.remaining),
            "RateLimit-Reset": str(max(1, math.ceil(decision.reset_after))),
        }


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit(rt: KeyRuntime, bucket: str, rate_name: str, consume: bool = True) -> None:
    rate = getattr(rt.rates, rate_name)
    decision = rt.limiter.hit(bucket, rate, consume)
    if not decision.allowed:
        log.info("scim.auth.rate_limited", bucket=bucket.split(":", 1)[0])
        raise TooManyRequests("too many requests; retry later", decision)


def limit_ip(request: Request) -> None:
    """The per-IP request limit alone (for /Me, whose caller is a user, not a key)."""
    ctx: AppContext = request.app.state.ctx
    _limit(ctx.key_runtime, f"ip:{client_ip(request)}", "per_ip")


def _key_id_of(token: str) -> str | None:
    """The id part of a key-shaped token, unchecked: only for the lock look-up (a peek
    at the limiter); verification checks the checksum right after."""
    if len(token) != key_format.TOKEN_LEN or not token.startswith(key_format.PREFIX):
        return None
    return token[len(key_format.PREFIX) : len(key_format.PREFIX) + key_format.ID_LEN]


def _refused(request: Request, ctx: AppContext, ip: str, exc: InvalidKey) -> None:
    """Count the failure against the IP and the key id, audit it when it names a key,
    and flag use of a retired key. Garbage (missing, malformed) costs no I/O at all."""
    rt = ctx.key_runtime
    rt.limiter.hit(f"fail-ip:{ip}", rt.rates.fail_ip)
    log.info("scim.auth.refused", reason=exc.reason)
    if exc.key_id is None or exc.reason not in _AUDITED_REFUSALS:
        return
    rt.limiter.hit(f"fail-key:{exc.key_id}", rt.rates.fail_key)
    event = AuditEvent(
        action="auth.key.refused",
        actor=SYSTEM,
        outcome="denied",
        target_type="ProvisioningKey",
        target_id=exc.key_id,
        request=request_info(request),
        detail={"reason": exc.reason},
    )
    with ctx.db.begin() as conn:
        AuditLog(conn).append(event, ctx.clock.now())
    anomaly = rt.anomalies.observe_refused(exc.key_id, exc.reason, ctx.clock.monotonic())
    if anomaly is not None:
        _service(ctx).security_event(anomaly, request_info(request))


def _service(ctx: AppContext) -> KeyService:
    return KeyService(ctx.settings, ctx.db, ctx.pepper, ctx.clock, ctx.key_runtime)


def _deny(
    request: Request,
    ctx: AppContext,
    principal: KeyPrincipal,
    action: str,
    detail: dict[str, object],
) -> None:
    event = AuditEvent(
        action=action,
        actor=key_actor(principal),
        outcome="denied",
        request=request_info(request),
        detail=detail,
    )
    with ctx.db.begin() as conn:
        AuditLog(conn).append(event, ctx.clock.now())


def _verify(request: Request, ctx: AppContext, ip: str) -> KeyPrincipal:
    rt = ctx.key_runtime
    try:
        token = parse_bearer(request.headers.get("authorization"))
        key_id = _key_id_of(token)
        if key_id is not None:
            _limit(rt, f"fail-key:{key_id}", "fail_key", consume=False)
        return ctx.keys.verify(token)
    except InvalidKey as exc:
        _refused(request, ctx, ip, exc)
        raise AuthFailed("a valid provisioning key is required") from None


def authenticate(request: Request, scope: str) -> KeyPrincipal:
    ctx: AppContext = request.app.state.ctx
    rt = ctx.key_runtime
    ip = client_ip(request)
    _limit(rt, f"ip:{ip}", "per_ip")
    _limit(rt, f"fail-ip:{ip}", "fail_ip", consume=False)
    if oauth_resource.is_oauth_token(request.headers.get("authorization")):
        # An access token from /token (RFC 9068, DPoP-bound when the key asked for it).
        principal = oauth_resource.verify_access_token(request)
    else:
        principal = _verify(request, ctx, ip)
    if principal.require_dpop:
        log.info("scim.auth.dpop_required", key_id=principal.key_id)
        raise DPoPRequired(
            "this provisioning key requires DPoP; bearer use is refused: obtain a "
            "DPoP-bound access token at the token endpoint (RFC 9449)"
        )
    if not ip_allowed(principal.allowed_cidrs, ip):
        _deny(request, ctx, principal, "auth.key.source_denied", {"source_ip": ip})
        raise Forbidden("this provisioning key may not be used from this address")
    _limit(rt, f"key:{principal.key_id}", "per_key")
    _observe_use(request, ctx, principal, ip)
    try:
        principal.require(scope)
    except InsufficientScope as exc:
        log.info("scim.auth.out_of_scope", key_id=principal.key_id, needed=exc.needed)
        _deny(
            request,
            ctx,
            principal,
            "auth.scope.denied",
            {"needed": exc.needed, "method": request.method, "path": request.url.path},
        )
        anomaly = rt.anomalies.observe_denial(principal.key_id, ctx.clock.monotonic())
        if anomaly is not None:
            _service(ctx).security_event(anomaly, request_info(request))
        raise Forbidden(str(exc)) from None
    request.state.principal = principal
    return principal


def _observe_use(request: Request, ctx: AppContext, principal: KeyPrincipal, ip: str) -> None:
    """Last use in memory (flushed in batches) and the new-network/volume checks."""
    rt = ctx.key_runtime
    rt.usage.record(principal.key_id, ctx.clock.now(), ip, request.headers.get("user-agent"))
    network = network_of(ip)
    known = rt.cache.get_for_auth(principal.key_id)
    found, learned = rt.anomalies.observe_use(
        principal.key_id,
        network,
        known.binding.known_networks if known else (),
        ctx.clock.monotonic(),
    )
    if learned and network is not None:
        rt.usage.learn_network(principal.key_id, network)
    for anomaly in found:
        _service(ctx).security_event(anomaly, request_info(request))
