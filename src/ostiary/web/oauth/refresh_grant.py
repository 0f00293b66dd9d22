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
from datetime import timedelta
from typing import Any

from starlette.requests import Request

from ostiary.oidc.errors import InvalidGrant, InvalidScope, OAuthError
from ostiary.store.repositories.refresh_tokens import RefreshGrant, RefreshTokenRepository
from ostiary.web.oauth import authorize_params
from ostiary.web.oauth.code_grant import mint, refresh_lifetime
from ostiary.web.oauth.grants import GrantCall, run_grant
from ostiary.web.oauth.state import OAuthState

GRANT = "refresh_token"


def exchange(state: OAuthState, request: Request, form: dict[str, str]) -> dict[str, Any]:
    return run_grant(state, request, form, GRANT, "refresh_token", _refresh)


def _refresh(call: GrantCall, token: str) -> dict[str, Any] | OAuthError:
    client, now = call.client, call.now
    repo = RefreshTokenRepository(call.conn)
    grant = repo.get(token)
    if grant is None or grant.client_id != client.id:
        raise InvalidGrant("the refresh token is invalid")
    if grant.revoked_at is not None or grant.expires_at <= now:
        raise InvalidGrant("the refresh token is no longer valid")
    grace = timedelta(seconds=call.state.settings.refresh_token_grace_seconds)
    if not repo.rotate(token, now):
        used = repo.get(token)
        if used is None or used.used_at is None or now - used.used_at > grace:
            return _reused(call, grant)
    user = call.user(grant.user_id)
    if isinstance(user, OAuthError):
        return user
    scope = _narrow(grant.scope, call.form.get("scope"))
    issued = replace(grant, scope=scope)
    id_claims = authorize_params.id_token_claims(call.conn, user, grant.claims)
    body, jti, exp = mint(call.state, client, issued, int(now.timestamp()), call.signers, id_claims)
    new = replace(grant, expires_at=now + refresh_lifetime(call.state, client), used_at=None)
    body["refresh_token"] = repo.create(new, now, jti, exp)
    detail = {"grant_type": GRANT, "scope": scope, "grant_id": grant.grant_id}
    call.audit_issue(grant.user_id, "refresh_token", jti, detail)
    return body


def _narrow(granted: str, requested: str | None) -> str:
    """RFC 6749 section 6: the scope may shrink, never grow."""
    if requested is None or not requested.strip():
        return granted
    wanted = requested.split()
    if not set(wanted) <= set(granted.split()):
        raise InvalidScope("the requested scope exceeds the original grant")
    return " ".join(dict.fromkeys(wanted))


def _reused(call: GrantCall, grant: RefreshGrant) -> OAuthError:
    revoked = RefreshTokenRepository(call.conn).revoke_grant(grant.grant_id, call.now)
    detail = {"user_id": grant.user_id, "revoked_access_tokens": len(revoked)}
    call.revoke_replayed(revoked, "oauth.refresh.reuse", ("grant", grant.grant_id), detail)
    return InvalidGrant("the refresh token was already used; the grant is revoked")
