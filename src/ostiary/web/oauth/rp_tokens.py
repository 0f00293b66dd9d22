"""Revocation (RFC 7009) and introspection (RFC 7662) of the tokens relying parties hold:
RFC 9068 access tokens for UserInfo and ``ost_rt_`` refresh tokens.

The token's shape says which it is (RFC 7009 section 2.1 lets the server ignore
``token_type_hint``). A client sees only its own tokens: another client's token is
``unauthorized_client`` at revocation and ``active: false`` at introspection, so nothing
about it leaks. Revoking a refresh token ends its whole grant, with the access tokens
issued in it (RFC 7009 section 2.1). Introspection also says ``active: false`` for any
token of a user who is deactivated or deleted, whether or not the token was revoked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request

from ostiary.audit.events import Actor, AuditEvent
from ostiary.oidc import tokens
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import InvalidToken, UnauthorizedClient
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.refresh_tokens import PREFIX as REFRESH_PREFIX
from ostiary.store.repositories.refresh_tokens import RefreshTokenRepository
from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth.code_grant import userinfo_audience
from ostiary.web.oauth.state import OAuthState

INACTIVE: dict[str, Any] = {"active": False}
ACCESS_CLAIMS = ("scope", "client_id", "sub", "aud", "iss", "exp", "iat", "jti", "sid")


def verified(state: OAuthState, token: str, audience: str) -> dict[str, Any] | None:
    """The claims of one of our unexpired access tokens for ``audience``, else None."""
    try:
        return tokens.verify(
            token,
            key_for=state.keyring.verifier,
            issuer=state.issuer,
            audience=audience,
            now=state.now(),
        )
    except InvalidToken:
        return None


def _access_claims(state: OAuthState, token: str) -> dict[str, Any] | None:
    return verified(state, token, userinfo_audience(state))


def _user_active(conn: Connection, user_id: str) -> bool:
    user = UserRepository(conn).get(user_id)
    return user is not None and user.active


def _audit(
    conn: Connection, request: Request, client: Client, kind: str, target: str, now: datetime
) -> None:
    event = AuditEvent(
        action="oauth.token.revoke",
        actor=Actor(kind="client", id=client.id, auth=client.auth_method, client_id=client.id),
        target_type=kind,
        target_id=target,
        request=request_info(request),
    )
    AuditLog(conn).append(event, now)


def revoke(state: OAuthState, request: Request, client: Client, token: str) -> None:
    now = state.ctx.clock.now()
    if token.startswith(REFRESH_PREFIX):
        _revoke_refresh(state, request, client, token, now)
        return
    claims = _access_claims(state, token)
    if claims is None:
        return  # RFC 7009 section 2.2: an invalid or expired token needs no revoking
    if claims.get("client_id") != client.id:
        raise UnauthorizedClient("the token was not issued to this client")
    jti = str(claims["jti"])
    expires = datetime.fromtimestamp(int(claims["exp"]), UTC)
    with state.ctx.db.begin() as conn:
        if RevocationRepository(conn).revoke(jti, client.id, expires, now):
            _audit(conn, request, client, "access_token", jti, now)


def _revoke_refresh(
    state: OAuthState, request: Request, client: Client, token: str, now: datetime
) -> None:
    with state.ctx.db.begin() as conn:
        repo = RefreshTokenRepository(conn)
        grant = repo.get(token)
        if grant is None:
            return
        if grant.client_id != client.id:
            raise UnauthorizedClient("the token was not issued to this client")
        if grant.revoked_at is not None:
            return  # revoking twice is a no-op
        revocations = RevocationRepository(conn)
        for jti, exp in repo.revoke_grant(grant.grant_id, now):
            if exp > now:
                revocations.revoke(jti, client.id, exp, now)
        _audit(conn, request, client, "refresh_grant", grant.grant_id, now)


def introspect(state: OAuthState, client: Client, token: str) -> dict[str, Any]:
    if token.startswith(REFRESH_PREFIX):
        return _introspect_refresh(state, client, token)
    claims = _access_claims(state, token)
    if claims is None or claims.get("client_id") != client.id:
        return INACTIVE
    if state.revocations.is_revoked(claims.get("jti")):  # shared by every node (revoked.py)
        return INACTIVE
    with state.ctx.db.read() as conn:
        if not _user_active(conn, str(claims.get("sub"))):
            return INACTIVE
    out: dict[str, Any] = {"active": True, "token_type": "Bearer"}
    return out | {name: claims[name] for name in ACCESS_CLAIMS if name in claims}


def _introspect_refresh(state: OAuthState, client: Client, token: str) -> dict[str, Any]:
    now = state.ctx.clock.now()
    with state.ctx.db.read() as conn:
        grant = RefreshTokenRepository(conn).get(token)
        if grant is None or grant.client_id != client.id:
            return INACTIVE
        # A rotated token is spent: only its successor is active.
        if grant.revoked_at or grant.used_at or grant.expires_at <= now:
            return INACTIVE
        if not _user_active(conn, grant.user_id):
            return INACTIVE
    return {
        "active": True,
        "scope": grant.scope,
        "client_id": grant.client_id,
        "sub": grant.user_id,
        "iss": state.issuer,
        "exp": int(grant.expires_at.timestamp()),
        "sid": grant.sid,
    }
