"""RP-Initiated Logout 1.0: the ``end_session_endpoint`` (GET and POST, section 2).

- ``id_token_hint`` is verified against Ostiary's own keys (an expired ID token is still
  a valid hint); its audience names the client. A ``client_id`` that contradicts it is
  refused (section 2).
- ``post_logout_redirect_uri`` is honoured only when it is registered, exactly, in the
  identified client's ``post_logout_redirect_uris`` (section 3.1); otherwise the user gets
  an error page, never a redirect. ``state`` goes back with the redirect.
- With a valid hint for the signed-in user the session ends at once; otherwise the user
  is asked to confirm (section 2: the OP SHOULD ask), on a CSRF-protected page whose POST
  comes back here. Ending the session queues back-channel logout (``session_end``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ostiary.oidc.clients import Client
from ostiary.oidc.errors import InvalidRequest
from ostiary.oidc.logout import InvalidHint, hint_client, verify_hint
from ostiary.store.repositories.clients import ClientRepository
from ostiary.web.oauth import logout, session_end
from ostiary.web.oauth.authorize import request_params
from ostiary.web.oauth.login import PAGE_HEADERS, TEMPLATES, current_session, session_cookie_name
from ostiary.web.oauth.state import OAuthState

PATH = "/end_session"
CSRF_COOKIE = "ostiary_end_session_csrf"
SINGLE = ("id_token_hint", "client_id", "post_logout_redirect_uri", "state", "csrf_token")
HINT_ALGS = ("RS256", "PS256", "ES256", "EdDSA")  # whatever an ID token may be signed with


class _Refused(InvalidRequest):
    """Refused with an error page (never a redirect: section 3.1)."""


@dataclass(frozen=True)
class _Request:
    client: Client | None
    hint: dict[str, Any] | None  # verified ID token claims
    redirect: str | None  # a registered post_logout_redirect_uri
    state: str | None


def _error_page(error: str, description: str) -> Response:
    html = TEMPLATES.get_template("authorize_error.html").render(
        error=error, description=description, what="Sign-out"
    )
    return HTMLResponse(html, 400, headers=PAGE_HEADERS)


def _hint(state: OAuthState, token: str | None) -> dict[str, Any] | None:
    if not token:
        return None
    try:
        return verify_hint(token, state.issuer, state.keyring.verifier, HINT_ALGS)
    except InvalidHint:
        return None  # treated as absent: the user is asked to confirm


def _resolve(state: OAuthState, params: dict[str, str]) -> _Request:
    hint = _hint(state, params.get("id_token_hint"))
    client_id = params.get("client_id") or None
    hinted = hint_client(hint) if hint is not None else None
    if client_id and hinted and client_id != hinted:
        raise _Refused("client_id does not match the id_token_hint")
    client_id = client_id or hinted
    client = None
    if client_id:
        with state.ctx.db.read() as conn:
            client = ClientRepository(conn, state.ctx.vault).get(client_id)
        if client is None:
            raise _Refused("unknown client_id")
    redirect = params.get("post_logout_redirect_uri") or None
    if redirect is not None:
        registered = client.options.get("post_logout_redirect_uris", []) if client else []
        if redirect not in registered:
            raise _Refused("post_logout_redirect_uri is not registered for this client")
    return _Request(client, hint, redirect, params.get("state"))


async def end_session(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    try:
        params = await request_params(request, SINGLE)
        result: Response = await run_in_threadpool(_handle, state, request, params)
        return result
    except InvalidRequest as exc:  # _Refused included
        return _error_page(exc.error, exc.description)


def _csrf_ok(request: Request, params: dict[str, str]) -> bool:
    given, expected = params.get("csrf_token", ""), request.cookies.get(CSRF_COOKIE, "")
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _handle(state: OAuthState, request: Request, params: dict[str, str]) -> Response:
    wanted = _resolve(state, params)
    session = current_session(request)
    confirming = request.method == "POST" and "csrf_token" in params
    if confirming and not _csrf_ok(request, params):
        return _confirm(state, wanted, status=403)
    hint_for_user = wanted.hint is not None and (
        session is None or wanted.hint.get("sub") == session.user_id
    )
    if session is not None and not confirming and not hint_for_user:
        return _confirm(state, wanted)
    cookie = request.cookies.get(session_cookie_name(state))
    if cookie:
        client_id = wanted.client.id if wanted.client else None
        session_end.end(state, request, cookie, via="end_session", client_id=client_id)
    return session_end.clear_cookie(state, _done(state, wanted))


def _done(state: OAuthState, wanted: _Request) -> Response:
    if wanted.redirect is None:
        return logout.page(state, signed_out=True)
    query = {"state": wanted.state} if wanted.state is not None else {}
    location = wanted.redirect
    if query:
        location += ("&" if "?" in location else "?") + urlencode(query)
    return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})


def _confirm(state: OAuthState, wanted: _Request, status: int = 200) -> Response:
    """Ask the user (section 2); the form carries the checked request back to this URL."""
    hidden = [("client_id", wanted.client.id if wanted.client else "")]
    if wanted.redirect is not None:
        hidden.append(("post_logout_redirect_uri", wanted.redirect))
    if wanted.state is not None:
        hidden.append(("state", wanted.state))
    return logout.page(
        state,
        signed_out=False,
        status=status,
        cookie=CSRF_COOKIE,
        path=PATH,
        hidden=[(k, v) for k, v in hidden if v],
        client_name=wanted.client.name if wanted.client else None,
    )


routes = [Route(PATH, end_session, methods=["GET", "POST"])]
