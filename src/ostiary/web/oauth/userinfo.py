"""The UserInfo endpoint (OIDC Core 5.3): GET or POST, the access token in the
``Authorization: Bearer`` header or (POST) the ``access_token`` form field
(RFC 6750 2.1, 2.2), never both (RFC 6750 2).

The token must be one of our RFC 9068 access tokens for the UserInfo audience, unexpired
and not revoked; the user is read on every call, so a deactivated or deleted user's
tokens stop at once (``401 invalid_token``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.oidc import claims as oidc_claims
from ostiary.oidc import tokens
from ostiary.oidc.errors import InvalidRequest, InvalidToken, OAuthError
from ostiary.store.repositories.groups import GroupRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.oauth.code_grant import userinfo_audience
from ostiary.web.oauth.responses import NO_STORE, json_response
from ostiary.web.oauth.state import OAuthState

MAX_BODY = 16 * 1024


def _challenge(exc: OAuthError) -> Response:
    """RFC 6750 3: errors in ``WWW-Authenticate``; no error code when no token was sent."""
    header = 'Bearer realm="ostiary"'
    if exc.description != "no access token":
        header += f', error="{exc.error}"'
    body = {"error": exc.error, "error_description": exc.description}
    return json_response(body, exc.status, NO_STORE | {"WWW-Authenticate": header})


async def _token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    from_header = header[7:].strip() if header[:7].lower() == "bearer " else None
    from_body = None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method == "POST" and ctype == "application/x-www-form-urlencoded":
        raw = (await request.body())[:MAX_BODY]
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        from_body = form.get("access_token")
    if from_header and from_body:
        raise InvalidRequest("send the access token once")
    token = from_header or from_body
    if not token:
        raise InvalidToken("no access token")
    return token


async def userinfo(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    try:
        token = await _token(request)
        body = await run_in_threadpool(_claims, state, token)
    except OAuthError as exc:
        return _challenge(exc)
    return json_response(body, headers=NO_STORE)


def _claims(state: OAuthState, token: str) -> dict[str, Any]:
    claims = tokens.verify(
        token,
        key_for=state.keyring.verifier,
        issuer=state.issuer,
        audience=userinfo_audience(state),
        now=state.now(),
    )
    scopes = set(str(claims.get("scope", "")).split())
    if "openid" not in scopes:
        raise InvalidToken("the token was not issued for OpenID Connect")
    if state.revocations.is_revoked(claims.get("jti")):
        raise InvalidToken("the access token was revoked")
    with state.ctx.db.read() as conn:
        user = UserRepository(conn).get(str(claims.get("sub")))
        if user is None or not user.active:
            raise InvalidToken("the user is no longer active")
        # OIDC Core 5.5: claims the authorization request asked for individually.
        extra = claims.get("ost_claims")
        named = [n for n in extra if isinstance(n, str)] if isinstance(extra, list) else []
        wants_groups = "groups" in scopes or "groups" in named
        groups = [g for _, g in GroupRepository(conn).groups_of(user.id)] if wants_groups else []
    out = oidc_claims.for_scopes(user, scopes, groups)
    return out | oidc_claims.requested(user, named, groups)


routes = [Route("/userinfo", userinfo, methods=["GET", "POST"])]
