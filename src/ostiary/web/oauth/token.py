"""The token endpoint (RFC 6749 section 3.2): ``client_credentials`` for provisioning keys,
issuing RFC 9068 access tokens, DPoP-bound (RFC 9449) when the client sends a proof.

Lean on purpose: a plain Starlette route, one key lookup, an in-memory signing key, one
ES256 signature and one audit insert per token.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.keys.restrictions import ip_allowed
from ostiary.oidc import tokens
from ostiary.oidc.dpop import verify_proof
from ostiary.oidc.errors import (
    InvalidDpopProof,
    InvalidRequest,
    InvalidScope,
    OAuthError,
    TemporarilyUnavailable,
    UnsupportedGrantType,
)
from ostiary.web.audit import request_info
from ostiary.web.logs import get_logger
from ostiary.web.oauth import client_auth, code_grant, refresh_grant, token_limits
from ostiary.web.oauth.responses import NO_STORE, json_response, oauth_error
from ostiary.web.oauth.state import OAuthState

log = get_logger("ostiary.oauth")
MAX_BODY = 64 * 1024
FORM = "application/x-www-form-urlencoded"
# Grants of signed-in users (relying parties); client_credentials keeps its fast path.
USER_GRANTS = {
    code_grant.GRANT: code_grant.exchange,
    refresh_grant.GRANT: refresh_grant.exchange,
}


@dataclass(slots=True)
class TokenCall:
    """What a client_credentials request carries besides its form: built from a Starlette
    ``Request`` here, or straight from the ASGI scope by ``token_asgi`` (not frozen: a
    frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``)."""

    state: OAuthState
    authorization: str | None
    dpop: list[str]
    info: RequestInfo

    @classmethod
    def of(cls, request: Request) -> TokenCall:
        state: OAuthState = request.app.state.oauth
        auth = request.headers.get("authorization")
        return cls(state, auth, request.headers.getlist("dpop"), request_info(request))


def parse_form(raw: bytes) -> dict[str, str]:
    """RFC 6749 section 3.2: form-encoded; no parameter may appear twice."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidRequest("the body is not UTF-8") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise InvalidRequest(f"parameter {name!r} is repeated")
        form[name] = value
    return form


async def read_form(request: Request) -> dict[str, str]:
    """The form of a token, revocation or introspection request (RFC 6749 section 3.2,
    RFC 7009 section 2.1, RFC 7662 section 2.1), at most ``MAX_BODY`` bytes."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != FORM:
        raise InvalidRequest(f"the body must be {FORM}")
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise InvalidRequest("the body is too large")
    return parse_form(raw)


async def token(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    form: dict[str, str] = {}
    try:
        form = await read_form(request)
        user_grant = USER_GRANTS.get(form.get("grant_type") or "")
        if user_grant is not None:
            # Audited inside its own transaction (the code or token is consumed in it).
            grant_body = await run_in_threadpool(user_grant, state, request, form)
            return json_response(grant_body, headers=NO_STORE)
        return json_response(await issue(TokenCall.of(request), form), headers=NO_STORE)
    except client_auth.ClientAuthFailed as exc:
        return await refused(TokenCall.of(request), exc, form)
    except OAuthError as exc:
        return oauth_error(exc)


async def issue(call: TokenCall, form: dict[str, str]) -> dict[str, Any]:
    """client_credentials: the token body, returned once its audit event is committed."""
    # With the key record cached and no Redis round trip due, issuing is pure CPU
    # (HMAC, ES256): run it on the event loop and skip the thread hop.
    claimed = client_auth.claimed_client_id(call.authorization, form)
    if _cpu_only(call, claimed):
        body, event = _issue(call, form, claimed)
    else:
        body, event = await run_in_threadpool(_issue, call, form, claimed)
    await _audit(call.state, event)
    return body


async def refused(
    call: TokenCall, exc: client_auth.ClientAuthFailed, form: dict[str, str]
) -> Response:
    """The refusal is audited (issue 5) before the client hears ``invalid_client``."""
    log.info("oauth.client_auth.refused", client_id=exc.client_id, reason=exc.reason)
    try:
        await _audit(call.state, _refusal(call, exc, form.get("grant_type")))
    except OAuthError as unavailable:
        return oauth_error(unavailable)
    return oauth_error(exc)


def _cpu_only(call: TokenCall, claimed: str | None) -> bool:
    state = call.state
    if state.settings.redis_url:
        return False  # the shared rate limits (and replay cache) are Redis round trips
    if not state.keyring.fresh():
        return False  # a key reload (and maybe a rotation) is due: that is database work
    return claimed is not None and state.clients.fresh(claimed)


async def _audit(state: OAuthState, event: AuditEvent) -> None:
    try:
        await state.audit.append_async(event, state.ctx.clock.now())
    except Exception as exc:
        # No token leaves without its audit event (issue 5 point 1).
        log.error("oauth.audit.failed", error_type=type(exc).__name__)
        raise TemporarilyUnavailable("try again later") from None


def _issue(
    call: TokenCall, form: dict[str, str], claimed: str | None
) -> tuple[dict[str, Any], AuditEvent]:
    grant = form.get("grant_type")
    if not grant:
        raise InvalidRequest("grant_type is required")
    if grant != "client_credentials":
        raise UnsupportedGrantType(f"grant_type {grant!r} is not supported")
    rt = call.state.ctx.key_runtime
    ip = call.info.source_ip or "unknown"
    token_limits.before_auth(rt, ip, claimed)
    try:
        client = client_auth.authenticate(call.state, call.authorization, form)
        if not ip_allowed(client.record.binding.allowed_cidrs, call.info.source_ip):
            # The key's CIDR allow-list binds its tokens too: a token minted outside it
            # would carry the key's access past the binding (SCIM checks it again on use).
            raise client_auth.ClientAuthFailed(
                client.record.id,
                client.method,
                "source_not_allowed",
                basic=client.method == "client_secret_basic",
            )
    except client_auth.ClientAuthFailed as exc:
        token_limits.refused(rt, ip, exc.client_id, exc.reason)
        raise
    token_limits.after_auth(rt, client.record.id)
    jkt = _dpop(call, client)
    scope = _scope(form.get("scope"), client.record.scopes)
    return _mint(call, client, scope, jkt)


def _dpop(call: TokenCall, client: client_auth.AuthenticatedClient) -> str | None:
    state, values = call.state, call.dpop
    if not values:
        # The keys area may also carry the flag on the key itself (``binding``).
        binding = getattr(client.record, "binding", None)
        if client.credentials.require_dpop or getattr(binding, "require_dpop", False):
            raise InvalidDpopProof("this client must send a DPoP proof")
        return None
    nonces = state.nonces if state.settings.dpop_nonce_required else None
    proof = verify_proof(
        values,
        method="POST",
        url=state.token_endpoint,
        now=state.now(),
        max_age=state.settings.dpop_max_age_seconds,
        replay=state.replay,
        nonces=nonces,
    )
    return proof.jkt


def _scope(requested: str | None, allowed: frozenset[str]) -> str:
    if requested is None or not requested.strip():
        return " ".join(sorted(allowed))
    wanted = set(requested.split())
    if not wanted <= allowed:
        raise InvalidScope("the requested scope exceeds the key's scopes")
    return " ".join(sorted(wanted))


def _mint(
    call: TokenCall, client: client_auth.AuthenticatedClient, scope: str, jkt: str | None
) -> tuple[dict[str, Any], AuditEvent]:
    state = call.state
    now = state.now()
    key_id = client.record.id
    lifetime = state.settings.access_token_lifetime_seconds
    issued = tokens.mint(
        key=state.keyring.signer(tokens.AT_ALG),
        issuer=state.issuer,
        audience=state.scim_audience,
        subject=key_id,
        client_id=key_id,
        scope=scope,
        now=now,
        lifetime=lifetime,
        jkt=jkt,
        extra={"ost_kv": client.version},
    )
    token_type = "DPoP" if jkt else "Bearer"
    actor = Actor(
        kind="key",
        id=key_id,
        auth=client.method,
        key_version=client.version,
        client_id=key_id,
        jkt=jkt,
    )
    event = AuditEvent(
        action="oauth.token.issue",
        actor=actor,
        target_type="access_token",
        target_id=issued.jti,
        request=call.info,
        detail={
            "grant_type": "client_credentials",
            "scope": scope,
            "exp": now + lifetime,
            "token_type": token_type,
        },
    )
    body: dict[str, Any] = {
        "access_token": issued.token,
        "token_type": token_type,
        "expires_in": lifetime,
        "scope": scope,
    }
    return body, event


def _refusal(call: TokenCall, exc: client_auth.ClientAuthFailed, grant: str | None) -> AuditEvent:
    return AuditEvent(
        action="oauth.client_auth.refused",
        actor=Actor(kind="client", id=exc.client_id or "unknown", auth=exc.method),
        outcome="failure",
        request=call.info,
        detail={"reason": exc.reason, "grant_type": grant},
    )


routes = [Route("/token", token, methods=["POST"])]
