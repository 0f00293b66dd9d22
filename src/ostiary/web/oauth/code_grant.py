"""``grant_type=authorization_code`` at the token endpoint (RFC 6749 section 4.1.3,
OIDC Core 3.1.3, RFC 7636 section 4.6).

One transaction per exchange: the client is authenticated, the code read, checked and
marked used by a conditional UPDATE, and the issuance audited. A code presented a second
time is refused and the access token issued from it is revoked (RFC 6749 section 4.1.2);
that revocation and its audit event are committed before the error is returned.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request

from ostiary.oidc import id_token, pkce, tokens
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import InvalidGrant, OAuthError
from ostiary.store.repositories.auth_codes import AuthCode, AuthCodeRepository
from ostiary.store.repositories.refresh_tokens import RefreshGrant, RefreshTokenRepository
from ostiary.store.repositories.session_clients import SessionClientRepository
from ostiary.web.oauth import authorize_params
from ostiary.web.oauth.grants import GrantCall, run_grant
from ostiary.web.oauth.state import OAuthState

GRANT = "authorization_code"


def userinfo_audience(state: OAuthState) -> str:
    return f"{state.issuer}/userinfo"


def exchange(state: OAuthState, request: Request, form: dict[str, str]) -> dict[str, Any]:
    return run_grant(state, request, form, GRANT, "code", _redeem)


def _redeem(call: GrantCall, code: str) -> dict[str, Any] | OAuthError:
    client, conn, now = call.client, call.conn, call.now
    repo = AuthCodeRepository(conn)
    grant = repo.get(code)
    if grant is None or grant.client_id != client.id:
        raise InvalidGrant("the code is invalid")
    if grant.used_at is not None:
        return _replayed(call, grant)
    if grant.expires_at <= now:
        raise InvalidGrant("the code has expired")
    # RFC 6749 section 4.1.3: the same redirect_uri as in the authorization request.
    if call.form.get("redirect_uri") != grant.redirect_uri:
        raise InvalidGrant("redirect_uri does not match the authorization request")
    pkce.check_verifier(grant.code_challenge, call.form.get("code_verifier"))
    user = call.user(grant.user_id)
    if isinstance(user, OAuthError):
        return user
    id_claims = authorize_params.id_token_claims(conn, user, grant.claims)
    body, jti, exp = mint(call.state, client, grant, int(now.timestamp()), call.signers, id_claims)
    grant_id = secrets.token_urlsafe(16)
    if not repo.redeem(code, now, jti, exp, grant_id):
        return _replayed(call, grant)  # lost a race with a twin
    # Back-Channel Logout 1.0 section 2.6: this session now has a client to tell at logout.
    SessionClientRepository(conn).record(grant.sid, client.id, grant.user_id, now)
    if wants_refresh(client, grant.scope):
        refresh = RefreshGrant(
            grant_id=grant_id,
            client_id=client.id,
            user_id=grant.user_id,
            sid=grant.sid,
            scope=grant.scope,
            auth_time=grant.auth_time,
            amr=grant.amr,
            expires_at=now + refresh_lifetime(call.state, client),
            claims=grant.claims,
        )
        body["refresh_token"] = RefreshTokenRepository(conn).create(refresh, now, jti, exp)
    detail = {"grant_type": GRANT, "scope": grant.scope, "sid": grant.sid, "id_token": True}
    call.audit_issue(grant.user_id, "session", jti, detail)
    return body


def _replayed(call: GrantCall, grant: AuthCode) -> OAuthError:
    revoked = None
    issued: list[tuple[str, datetime]] = []
    if grant.access_jti is not None and grant.access_exp is not None:
        issued.append((grant.access_jti, grant.access_exp))
        revoked = grant.access_jti
    if grant.grant_id is not None:  # and every refresh token (and its access token) since
        issued += RefreshTokenRepository(call.conn).revoke_grant(grant.grant_id, call.now)
    detail = {"user_id": grant.user_id, "sid": grant.sid, "revoked": revoked}
    call.revoke_replayed(issued, "oauth.code.reuse", ("access_token", revoked), detail)
    return InvalidGrant("the code was already used; tokens issued from it are revoked")


def wants_refresh(client: Client, scope: str) -> bool:
    """A refresh token for clients allowed the refresh grant that ask for offline_access,
    or that are configured to always get one (option ``refresh_tokens``)."""
    if "refresh_token" not in client.grant_types:
        return False
    return "offline_access" in scope.split() or bool(client.options.get("refresh_tokens"))


def refresh_lifetime(state: OAuthState, client: Client) -> timedelta:
    """Sliding: every rotation starts it again (the client's option, else the setting)."""
    default = state.settings.refresh_token_lifetime_days * 86400
    return timedelta(seconds=client.lifetime("refresh_token_lifetime", default))


def _access_extra(grant: Any) -> dict[str, Any]:
    extra = {"sid": grant.sid, "auth_time": int(grant.auth_time.timestamp())}
    userinfo = (grant.claims or {}).get("userinfo")
    if userinfo:
        extra["ost_claims"] = userinfo  # OIDC Core 5.5: UserInfo adds these
    return extra


def mint(
    state: OAuthState,
    client: Client,
    grant: Any,
    now: int,
    signers: tuple[Any, Any],
    id_claims: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], str, datetime]:
    """Access and ID token for ``grant`` (an AuthCode or a RefreshGrant), with the
    client's lifetimes and ID token algorithm."""
    lifetime = client.lifetime(
        "access_token_lifetime", state.settings.access_token_lifetime_seconds
    )
    id_lifetime = client.lifetime("id_token_lifetime", state.settings.access_token_lifetime_seconds)
    access = tokens.mint(
        key=signers[0],
        issuer=state.issuer,
        audience=userinfo_audience(state),
        subject=grant.user_id,
        client_id=client.id,
        scope=grant.scope,
        now=now,
        lifetime=lifetime,
        extra=_access_extra(grant),
    )
    idt = id_token.mint(
        key=signers[1][client.id_token_alg],
        alg=client.id_token_alg,
        issuer=state.issuer,
        subject=grant.user_id,
        client_id=client.id,
        now=now,
        lifetime=id_lifetime,
        auth_time=int(grant.auth_time.timestamp()),
        sid=grant.sid,
        nonce=getattr(grant, "nonce", None),  # OIDC Core 12.2: no nonce on refresh
        access_token=access.token,
        amr=list(grant.amr),
        extra=id_claims,  # OIDC Core 5.5: claims asked for individually
    )
    body: dict[str, Any] = {
        "access_token": access.token,
        "token_type": "Bearer",
        "expires_in": lifetime,
        "scope": grant.scope,
        "id_token": idt,
    }
    exp = datetime.fromtimestamp(now, tz=grant.auth_time.tzinfo) + timedelta(seconds=lifetime)
    return body, access.jti, exp
