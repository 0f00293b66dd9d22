"""Dynamic client registration (RFC 7591) and its management protocol (RFC 7592).

Off unless ``OSTIARY_DYNAMIC_REGISTRATION=true`` (then, and only then, the routes exist
and discovery lists ``registration_endpoint``). Registering needs an initial access token
from ``ostiary clients initial-token``; each registered client gets its own registration
access token for GET/PUT/DELETE on its configuration endpoint. Every change is audited.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.core.ids import random_base62
from ostiary.oidc import clients as domain
from ostiary.oidc import logout
from ostiary.oidc.errors import (
    InvalidClientMetadata,
    InvalidRedirectUri,
    InvalidRequest,
    InvalidToken,
    OAuthError,
)
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.repositories.registration_tokens import (
    CLIENT,
    INITIAL,
    RegistrationTokenRepository,
)
from ostiary.web.audit import request_info
from ostiary.web.oauth.responses import NO_STORE, json_response, oauth_error
from ostiary.web.oauth.state import OAuthState

MAX_BODY = 64 * 1024
CHALLENGE = 'Bearer realm="ostiary-registration", error="invalid_token"'


def _bearer(request: Request) -> str:
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("a bearer token is required", {"WWW-Authenticate": CHALLENGE})
    return token.strip()


def _metadata(raw: bytes) -> dict[str, Any]:
    if len(raw) > MAX_BODY:
        raise InvalidRequest("the body is too large")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidClientMetadata("the body is not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidClientMetadata("the body must be a JSON object")
    return doc


def _list(doc: dict[str, Any], name: str, default: list[str]) -> list[str]:
    value = doc.get(name, default)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidClientMetadata(f"{name} must be an array of strings")
    return value


# Client metadata kept in the client's options: the OIDC Dynamic Registration 1.0 section 2
# ID token algorithm, and Ostiary's own per-client token lifetimes (seconds).
OPTION_FIELDS = ("id_token_signed_response_alg", *domain.LIFETIME_BOUNDS)


def _options(doc: dict[str, Any]) -> dict[str, Any]:
    return {name: doc[name] for name in OPTION_FIELDS if name in doc}


# Logout metadata a client registers about itself (Back-Channel Logout 1.0 section 2.2,
# RP-Initiated Logout 1.0 section 3.1); kept in the client's options.
LOGOUT_METADATA = (
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "post_logout_redirect_uris",
)


def _logout_metadata(doc: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the logout metadata replaced by the document's (RFC 7592 PUT: an
    omitted field is removed)."""
    kept = {k: v for k, v in options.items() if k not in LOGOUT_METADATA}
    given = {k: doc[k] for k in LOGOUT_METADATA if k in doc}
    try:
        return logout.validate_options(kept | given)
    except domain.ClientError as exc:
        if "post_logout_redirect_uris" in str(exc) or "redirect URI" in str(exc):
            raise InvalidRedirectUri(str(exc)) from None
        raise InvalidClientMetadata(str(exc)) from None


def _build(doc: dict[str, Any], client_id: str, now: Any) -> tuple[domain.Client, str | None]:
    method = doc.get("token_endpoint_auth_method", "client_secret_basic")
    scope = doc.get("scope", "openid")
    name = doc.get("client_name", "dynamic client")
    if not isinstance(method, str) or not isinstance(scope, str) or not isinstance(name, str):
        raise InvalidClientMetadata("client_name, scope and the auth method are strings")
    jwks = doc.get("jwks")
    if jwks is not None and not isinstance(jwks, dict):
        raise InvalidClientMetadata("jwks must be a JWK Set")
    try:
        return domain.build(
            client_id=client_id,
            name=name,
            client_type="public" if method == "none" else "confidential",
            auth_method=method,
            redirect_uris=_list(doc, "redirect_uris", []),
            grant_types=_list(doc, "grant_types", ["authorization_code"]),
            scopes=scope.split(),
            jwks=jwks,
            now=now,
            options=_logout_metadata(doc, _options(doc)),
        )
    except domain.ClientError as exc:
        if "redirect URI" in str(exc):
            raise InvalidRedirectUri(str(exc)) from None
        raise InvalidClientMetadata(str(exc)) from None


def _view(state: OAuthState, client: domain.Client) -> dict[str, Any]:
    created = client.created_at
    return {
        "client_id": client.id,
        "client_id_issued_at": int(created.timestamp()) if created else None,
        "client_name": client.name,
        "redirect_uris": list(client.redirect_uris),
        "token_endpoint_auth_method": client.auth_method,
        "grant_types": list(client.grant_types),
        "scope": " ".join(client.scopes),
        **({"jwks": client.jwks} if client.jwks else {}),
        "id_token_signed_response_alg": client.id_token_alg,
        **{name: client.options[name] for name in OPTION_FIELDS[1:] if name in client.options},
        **{k: client.options[k] for k in LOGOUT_METADATA if k in client.options},
        "registration_client_uri": f"{state.issuer}/register/{client.id}",
    }


def _audit(conn: Any, request: Request, action: str, client: domain.Client, now: Any) -> None:
    actor = Actor(kind="client", id=client.id, auth="registration_token")
    event = AuditEvent(
        action=action,
        actor=actor,
        target_type="client",
        target_id=client.id,
        request=request_info(request),
        after=client.summary(),
    )
    AuditLog(conn).append(event, now)


def _register(state: OAuthState, request: Request, raw: bytes) -> Response:
    token = _bearer(request)
    doc = _metadata(raw)
    ctx = state.ctx
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        tokens = RegistrationTokenRepository(conn, ctx.pepper)
        if tokens.check(token, INITIAL, now) is None:
            raise InvalidToken("invalid initial access token", {"WWW-Authenticate": CHALLENGE})
        client, secret = _build(doc, random_base62(24), now)
        ClientRepository(conn, ctx.vault).add(client)
        access = tokens.issue(CLIENT, now, client_id=client.id)
        _audit(conn, request, "client.register", client, now)
    body = _view(state, client) | {"registration_access_token": access}
    if secret is not None:
        body |= {"client_secret": secret, "client_secret_expires_at": 0}
    return json_response(body, 201, NO_STORE)


def _manage(state: OAuthState, request: Request, raw: bytes) -> Response:
    token = _bearer(request)
    client_id = request.path_params["client_id"]
    ctx = state.ctx
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        tokens = RegistrationTokenRepository(conn, ctx.pepper)
        repo = ClientRepository(conn, ctx.vault)
        # RFC 7592 section 2: a token for another client is as good as none.
        client = repo.get(client_id) if tokens.check(token, CLIENT, now) == client_id else None
        if client is None:
            raise InvalidToken("invalid registration access token", {"WWW-Authenticate": CHALLENGE})
        if request.method == "GET":
            return json_response(_view(state, client), headers=NO_STORE)
        if request.method == "DELETE":
            repo.delete(client_id)
            _audit(conn, request, "client.unregister", client, now)
            return Response(status_code=204, headers=NO_STORE)
        doc = _metadata(raw)
        if doc.get("client_id") != client_id:
            raise InvalidRequest("the body's client_id must match the endpoint")
        wanted, _ = _build(doc | {"token_endpoint_auth_method": client.auth_method}, client_id, now)
        updated = replace(
            client,
            name=wanted.name,
            redirect_uris=wanted.redirect_uris,
            grant_types=wanted.grant_types,
            scopes=wanted.scopes,
            jwks=wanted.jwks,
            # RFC 7592 2.2: the new metadata replaces the old; other options (first_party,
            # require_pkce, allowed_groups: set by an administrator) stay.
            options={
                k: v
                for k, v in client.options.items()
                if k not in OPTION_FIELDS and k not in LOGOUT_METADATA
            }
            | wanted.options,
        )
        repo.update(updated, now)
        _audit(conn, request, "client.update", updated, now)
    return json_response(_view(state, updated), headers=NO_STORE)


def _endpoint(handler: Any) -> Any:
    async def endpoint(request: Request) -> Response:
        state: OAuthState = request.app.state.oauth
        try:
            raw = await request.body() if request.method in {"POST", "PUT"} else b""
            result: Response = await run_in_threadpool(handler, state, request, raw)
            return result
        except OAuthError as exc:
            return oauth_error(exc)

    return endpoint


routes = [
    Route("/register", _endpoint(_register), methods=["POST"]),
    Route("/register/{client_id}", _endpoint(_manage), methods=["GET", "PUT", "DELETE"]),
]
