"""``grant_type=refresh_token`` (RFC 6749 section 6) with rotation and reuse detection
(RFC 9700 section 4.14.2).

Each refresh marks the presented token used and returns a new one of the same grant.
A used token presented again within ``OSTIARY_REFRESH_TOKEN_GRACE_SECONDS`` (two tabs
refreshing at once) gets a fresh sibling; after that it is treated as stolen: every
refresh token of the grant and the access tokens issued with them are revoked, in the
same transaction as the audit event, and the caller gets ``invalid_grant``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request

from ostiary.audit.events import Actor, AuditEvent
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import (
    InvalidGrant,
    InvalidScope,
    OAuthError,
)
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.refresh_tokens import RefreshGrant, RefreshTokenRepository
from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth import authorize_params, client_access, rp_auth
from ostiary.web.oauth.code_grant import mint, refresh_lifetime
from ostiary.web.oauth.state import OAuthState

GRANT = "refresh_token"


def exchange(state: OAuthState, request: Request, form: dict[str, str]) -> dict[str, Any]:
    return rp_auth.run_grant(
        state,
        request,
        form,
        GRANT,
        "refresh_token",
        lambda conn, client, token, now, signers: _refresh(
            state, conn, request, client, token, form, now, signers
        ),
    )


def _refresh(
    state: OAuthState,
    conn: Connection,
    request: Request,
    client: Client,
    token: str,
    form: dict[str, str],
    now: datetime,
    signers: tuple[Any, Any],
) -> dict[str, Any] | OAuthError:
    repo = RefreshTokenRepository(conn)
    grant = repo.get(token)
    if grant is None or grant.client_id != client.id:
        raise InvalidGrant("the refresh token is invalid")
    if grant.revoked_at is not None or grant.expires_at <= now:
        raise InvalidGrant("the refresh token is no longer valid")
    grace = timedelta(seconds=state.settings.refresh_token_grace_seconds)
    if not repo.rotate(token, now):
        used = repo.get(token)
        if used is None or used.used_at is None or now - used.used_at > grace:
            return _reused(conn, request, client, grant, now)
    user = UserRepository(conn).get(grant.user_id)
    if user is None or not user.active:
        raise InvalidGrant("the user can no longer sign in")
    if not client_access.allowed(conn, client.options, user.id):  # issue 7 point 1
        info = request_info(request)
        return client_access.refused(conn, state.issuer, user.id, client.id, now, info)
    scope = _narrow(grant.scope, form.get("scope"))
    issued = replace(grant, scope=scope)
    id_claims = authorize_params.id_token_claims(conn, user, grant.claims)
    body, jti, exp = mint(state, client, issued, int(now.timestamp()), signers, id_claims)
    new = replace(grant, expires_at=now + refresh_lifetime(state, client), used_at=None)
    body["refresh_token"] = repo.create(new, now, jti, exp)
    event = AuditEvent(
        action="oauth.token.issue",
        actor=Actor(kind="user", id=grant.user_id, auth="refresh_token", client_id=client.id),
        target_type="access_token",
        target_id=jti,
        request=request_info(request),
        detail={"grant_type": GRANT, "scope": scope, "grant_id": grant.grant_id},
    )
    AuditLog(conn).append(event, now)
    return body


def _narrow(granted: str, requested: str | None) -> str:
    """RFC 6749 section 6: the scope may shrink, never grow."""
    if requested is None or not requested.strip():
        return granted
    wanted = requested.split()
    if not set(wanted) <= set(granted.split()):
        raise InvalidScope("the requested scope exceeds the original grant")
    return " ".join(dict.fromkeys(wanted))


def _reused(
    conn: Connection, request: Request, client: Client, grant: RefreshGrant, now: datetime
) -> OAuthError:
    revoked = RefreshTokenRepository(conn).revoke_grant(grant.grant_id, now)
    for jti, exp in revoked:
        RevocationRepository(conn).revoke(jti, client.id, exp, now)
    event = AuditEvent(
        action="oauth.refresh.reuse",
        actor=Actor(kind="client", id=client.id, auth=client.auth_method),
        outcome="failure",
        target_type="grant",
        target_id=grant.grant_id,
        request=request_info(request),
        detail={"user_id": grant.user_id, "revoked_access_tokens": len(revoked)},
    )
    AuditLog(conn).append(event, now)
    return InvalidGrant("the refresh token was already used; the grant is revoked")
