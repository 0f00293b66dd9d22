"""The authorization endpoint (RFC 6749 section 4.1.1, OIDC Core 3.1.2): the code flow.

Before the client and redirect URI are known to be registered, every error is an HTML page
(section 4.1.2.1: never redirect to an unverified URI). After that, errors go back to the
redirect URI with ``error``, ``state`` and ``iss`` (RFC 9207).

Consent (``consent.py``): asked once per user, client and scope set, or on
``prompt=consent``; never for clients registered as ``first_party``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.oidc import pkce
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import InvalidRequest
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.auth_codes import AuthCode, AuthCodeRepository
from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.repositories.consents import ConsentRepository
from ostiary.store.repositories.sessions import Session
from ostiary.web.audit import request_info
from ostiary.web.oauth import authorize_params, client_access, consent
from ostiary.web.oauth.authorize_params import Redirectable as _Redirectable
from ostiary.web.oauth.login import PAGE_HEADERS, current_session
from ostiary.web.oauth.state import OAuthState

TEMPLATES = Environment(
    loader=PackageLoader("ostiary.web", "templates"), autoescape=select_autoescape()
)
CODE_LIFETIME = timedelta(seconds=60)
SUPPORTED_SCOPES = frozenset(
    {"openid", "profile", "email", "phone", "address", "groups", "offline_access"}
)
MAX_BODY = 16 * 1024
SINGLE = ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce", "prompt")


def _error_page(error: str, description: str) -> Response:
    html = TEMPLATES.get_template("authorize_error.html").render(
        error=error, description=description
    )
    return HTMLResponse(html, 400, headers=PAGE_HEADERS)


def _to_client(redirect_uri: str, params: dict[str, str]) -> Response:
    sep = "&" if "?" in redirect_uri else "?"
    location = redirect_uri + sep + urlencode(params)
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


async def request_params(request: Request, single: tuple[str, ...] = SINGLE) -> dict[str, str]:
    """Query (GET) or form (POST) parameters; a repeated one of ``single`` is refused."""
    if request.method == "POST":
        raw = (await request.body())[:MAX_BODY]
        pairs = parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    else:
        pairs = list(request.query_params.multi_items())
    params: dict[str, str] = {}
    for name, value in pairs:
        if name in params and name in single:
            raise InvalidRequest(f"parameter {name!r} is repeated")
        params[name] = value
    return params


async def authorize(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    try:
        params = await request_params(request)
    except InvalidRequest as exc:
        return _error_page(exc.error, exc.description)
    return await run_in_threadpool(_authorize, state, request, params)


def _authorize(state: OAuthState, request: Request, params: dict[str, str]) -> Response:
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    with state.ctx.db.read() as conn:
        client = ClientRepository(conn, state.ctx.vault).get(client_id) if client_id else None
    if client is None:
        return _error_page("invalid_request", "unknown client_id")
    if client.options.get("disabled"):  # its owner was deprovisioned (web/scim/owned.py)
        return _error_page("unauthorized_client", "this client is disabled")
    if not redirect_uri or redirect_uri not in client.redirect_uris:
        return _error_page("invalid_request", "redirect_uri is not registered for this client")
    base = {"iss": state.issuer}
    if "state" in params:
        base["state"] = params["state"]
    try:
        scope, challenge = _validate(client, params)
        authorize_params.claims_request(client, params)  # a bad one fails before sign-in
        session = current_session(request)
        hinted = authorize_params.hint_subject(state, client, params)
        needs_login = _needs_login(state, session, params)
        prompts = set(params.get("prompt", "").split())
        if authorize_params.other_user(session, hinted):
            # OIDC Core 3.1.2.1 id_token_hint: someone else is signed in here. Whoever
            # signs in now is "logged in by the request", so the hint is not sent again.
            if "none" in prompts:
                raise _Redirectable("login_required", "another user is signed in")
            return _to_login({k: v for k, v in params.items() if k != "id_token_hint"})
        if needs_login and "none" in prompts:
            raise _Redirectable("login_required", "the user is not signed in")
        if needs_login:
            return _to_login(params)
        assert session is not None
        authorize_params.check_acr(session, params, prompts)
        if not _may_use(state, client, session):
            raise _Redirectable("access_denied", "the user may not use this application")
        decided = consent.decision(request, params)
        if consent.required(state, client, session, scope, prompts, decided):
            if "none" in prompts:
                raise _Redirectable("consent_required", "the user has not consented")
            return consent.page(state, client, scope, params)
        if decided == "deny":
            raise _Redirectable("access_denied", "the user declined")
        code = _issue(state, request, client, session, params, scope, challenge, decided)
    except _Redirectable as exc:
        return _to_client(
            redirect_uri, {"error": exc.error, "error_description": exc.description, **base}
        )
    return _to_client(redirect_uri, {"code": code, **base})


def _validate(client: Client, params: dict[str, str]) -> tuple[str, str | None]:
    if params.get("response_type") != "code":
        raise _Redirectable("unsupported_response_type", "only response_type=code is supported")
    if "authorization_code" not in client.grant_types:
        raise _Redirectable("unauthorized_client", "this client may not use the code flow")
    # OIDC Core 3.1.2.6: each way of passing a request object has its own error code.
    if "request_uri" in params:
        raise _Redirectable("request_uri_not_supported", "request_uri is not supported")
    if "request" in params:
        raise _Redirectable("request_not_supported", "request objects are not supported")
    requested = params.get("scope", "").split()
    if "openid" not in requested:
        raise _Redirectable("invalid_scope", "scope must include openid")
    allowed = (set(client.scopes) | {"openid"}) & SUPPORTED_SCOPES
    # OIDC Core 3.1.2.1: scope values that are not understood are ignored.
    scope = " ".join(s for s in dict.fromkeys(requested) if s in allowed)
    prompts = set(params.get("prompt", "").split())
    if not prompts <= {"none", "login", "consent", "select_account"}:
        raise _Redirectable("invalid_request", "unknown prompt value")
    if "none" in prompts and len(prompts) > 1:
        raise _Redirectable("invalid_request", "prompt=none cannot be combined")
    max_age = params.get("max_age")
    if max_age is not None and (not max_age.isdigit() or len(max_age) > 9):
        raise _Redirectable("invalid_request", "max_age must be a non-negative integer")
    try:
        challenge = pkce.check_challenge(
            params.get("code_challenge"),
            params.get("code_challenge_method"),
            required=client.client_type == "public" or bool(client.options.get("require_pkce")),
        )
    except InvalidRequest as exc:
        raise _Redirectable("invalid_request", exc.description) from None
    return scope, challenge


def _may_use(state: OAuthState, client: Client, session: Session) -> bool:
    """Issue 7 point 1: a client limited to some groups refuses everyone else."""
    if not client.options.get("allowed_groups"):
        return True
    with state.ctx.db.read() as conn:
        return client_access.allowed(conn, client.options, session.user_id)


def _needs_login(state: OAuthState, session: Session | None, params: dict[str, str]) -> bool:
    if session is None:
        return True
    prompts = set(params.get("prompt", "").split())
    if "login" in prompts:
        return True
    max_age = params.get("max_age")
    if max_age is not None:
        age = (state.ctx.clock.now() - session.auth_time).total_seconds()
        return age > int(max_age)
    return False


def _to_login(params: dict[str, str]) -> Response:
    """To the sign-in page, coming back here afterwards. ``prompt=login`` is dropped from the
    return URL: the sign-in it asks for is the one about to happen."""
    back = dict(params)
    prompts = [p for p in back.pop("prompt", "").split() if p != "login"]
    if prompts:
        back["prompt"] = " ".join(prompts)
    query: dict[str, str] = {"next": "/authorize?" + urlencode(back)}
    if params.get("login_hint"):
        query["login_hint"] = params["login_hint"][:512]
    return RedirectResponse(
        "/login?" + urlencode(query), status_code=303, headers={"Cache-Control": "no-store"}
    )


def _issue(
    state: OAuthState,
    request: Request,
    client: Client,
    session: Session,
    params: dict[str, str],
    scope: str,
    challenge: str | None,
    decided: str | None,
) -> str:
    now = state.ctx.clock.now()
    grant = AuthCode(
        client_id=client.id,
        user_id=session.user_id,
        sid=session.sid,
        redirect_uri=params["redirect_uri"],
        scope=scope,
        nonce=params.get("nonce"),
        code_challenge=challenge,
        auth_time=session.auth_time,
        amr=session.amr,
        expires_at=now + CODE_LIFETIME,
        used_at=None,
        access_jti=None,
        access_exp=None,
        claims=authorize_params.claims_request(client, params),
    )
    detail: dict[str, Any] = {"client_id": client.id, "scope": scope, "pkce": bool(challenge)}
    with state.ctx.db.begin() as conn:
        code = AuthCodeRepository(conn).create(grant, now)
        if decided == "allow":
            consents = ConsentRepository(conn)
            approved = consents.scopes(session.user_id, client.id) | set(scope.split())
            consents.grant(session.user_id, client.id, approved, now)
            detail["consent"] = "granted"
        event = AuditEvent(
            action="oauth.code.issue",
            actor=Actor(kind="user", id=session.user_id, auth="session"),
            target_type="session",
            target_id=session.sid,
            request=request_info(request),
            detail=detail,
        )
        AuditLog(conn).append(event, now)
    return code


routes = [Route("/authorize", authorize, methods=["GET", "POST"])]
