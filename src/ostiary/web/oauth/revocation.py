"""Token revocation (RFC 7009) and introspection (RFC 7662). Callers authenticate as at
the token endpoint; a client may revoke and introspect only tokens issued to itself
(RFC 7009 section 2.1). A registered relying party's tokens are handled by ``rp_tokens``;
this module handles the access tokens provisioning keys get from ``client_credentials``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.core.clock import as_utc
from ostiary.keys.models import KeyStatus
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import InvalidRequest, OAuthError, UnauthorizedClient
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth import client_auth, rp_auth, rp_tokens
from ostiary.web.oauth.responses import NO_STORE, json_response, oauth_error
from ostiary.web.oauth.state import OAuthState
from ostiary.web.oauth.token import read_form


async def _form(request: Request) -> dict[str, str]:
    form = await read_form(request)
    if not form.get("token"):
        raise InvalidRequest("token is required")
    return form


def _client(state: OAuthState, request: Request, form: dict[str, str]) -> Any:
    """The authenticated caller: a relying party (:class:`Client`) when the claimed id is
    a registered client, else a provisioning key."""
    authorization = request.headers.get("authorization")
    try:
        claimed = client_auth.claimed_client_id(authorization, form)
        with state.ctx.db.read() as conn:
            if claimed and ClientRepository(conn, state.ctx.vault).get(claimed) is not None:
                endpoint = state.issuer + request.url.path
                return rp_auth.authenticate(state, conn, authorization, form, endpoint)
        return client_auth.authenticate(state, authorization, form)
    except client_auth.ClientAuthFailed as exc:
        event = AuditEvent(
            action="oauth.client_auth.refused",
            actor=Actor(kind="client", id=exc.client_id or "unknown", auth=exc.method),
            outcome="failure",
            request=request_info(request),
            detail={"reason": exc.reason, "endpoint": request.url.path},
        )
        with state.ctx.db.begin() as conn:
            AuditLog(conn).append(event, state.ctx.clock.now())
        raise


def _claims(state: OAuthState, token: str) -> dict[str, Any] | None:
    return rp_tokens.verified(state, token, state.scim_audience)


def is_revoked(state: OAuthState, jti: object) -> bool:
    """The revocation set every node shares (``web/oauth/revoked.py``)."""
    return state.revocations.is_revoked(jti)


async def revoke(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    try:
        form = await _form(request)
        await run_in_threadpool(_revoke, state, request, form)
    except OAuthError as exc:
        return oauth_error(exc)
    return Response(status_code=200, headers=NO_STORE)


def _revoke(state: OAuthState, request: Request, form: dict[str, str]) -> None:
    client = _client(state, request, form)
    if isinstance(client, Client):
        rp_tokens.revoke(state, request, client, form["token"])
        return
    claims = _claims(state, form["token"])
    if claims is None:
        return  # RFC 7009 section 2.2: an invalid or expired token needs no revoking
    if claims.get("client_id") != client.record.id:
        raise UnauthorizedClient("the token was not issued to this client")
    now = state.ctx.clock.now()
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    with state.ctx.db.begin() as conn:
        if RevocationRepository(conn).revoke(str(claims["jti"]), client.record.id, expires, now):
            event = AuditEvent(
                action="oauth.token.revoke",
                actor=Actor(
                    kind="key", id=client.record.id, auth=client.method, client_id=client.record.id
                ),
                target_type="access_token",
                target_id=str(claims["jti"]),
                request=request_info(request),
            )
            AuditLog(conn).append(event, now)


async def introspect(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    try:
        form = await _form(request)
        body = await run_in_threadpool(_introspect, state, request, form)
    except OAuthError as exc:
        return oauth_error(exc)
    return json_response(body, headers=NO_STORE)


def _introspect(state: OAuthState, request: Request, form: dict[str, str]) -> dict[str, Any]:
    client = _client(state, request, form)
    if isinstance(client, Client):
        if client.auth_method == "none":
            # RFC 7662 section 2.1 wants the caller authorized; a client id alone is not.
            raise client_auth.ClientAuthFailed(client.id, "none", "public client", basic=True)
        return rp_tokens.introspect(state, client, form["token"])
    claims = _claims(state, form["token"])
    inactive = {"active": False}
    if claims is None or claims.get("client_id") != client.record.id:
        return inactive
    if is_revoked(state, claims.get("jti")):
        return inactive
    record = state.key_reader.get_for_auth(client.record.id)
    if record is None or record.status is not KeyStatus.ACTIVE:
        return inactive
    if as_utc(record.expires_at).timestamp() <= state.now():
        return inactive
    cnf = claims.get("cnf")
    out: dict[str, Any] = {
        "active": True,
        "token_type": "DPoP" if isinstance(cnf, dict) else "Bearer",
    }
    for name in ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "cnf"):
        if name in claims:
            out[name] = claims[name]
    return out


routes = [
    Route("/revoke", revoke, methods=["POST"]),
    Route("/introspect", introspect, methods=["POST"]),
]
