"""Signing out (issue 6 point 8, first part): a confirmation page, then a CSRF-checked
POST that ends the server-side session and clears its cookie. RP-initiated logout
(``id_token_hint``, ``post_logout_redirect_uri``) and back-channel logout build on this
once ID tokens exist."""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.sessions import SessionRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth.login import PAGE_HEADERS, TEMPLATES, secure_cookies, session_cookie_name
from ostiary.web.oauth.state import OAuthState

CSRF_COOKIE = "ostiary_logout_csrf"


def _page(state: OAuthState, *, signed_out: bool, status: int = 200) -> HTMLResponse:
    csrf = secrets.token_urlsafe(32)
    html = TEMPLATES.get_template("logout.html").render(csrf_token=csrf, signed_out=signed_out)
    response = HTMLResponse(html, status, headers=PAGE_HEADERS)
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(state),
        path="/logout",
    )
    return response


async def logout_form(request: Request) -> Response:
    return _page(request.app.state.oauth, signed_out=False)


async def logout_submit(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    form = dict(parse_qsl((await request.body())[:4096].decode("utf-8", "replace")))
    given, expected = form.get("csrf_token", ""), request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return _page(state, signed_out=False, status=403)
    cookie = request.cookies.get(session_cookie_name(state))
    if cookie:
        await run_in_threadpool(_end, state, request, cookie)
    response = _page(state, signed_out=True)
    response.delete_cookie(
        session_cookie_name(state),
        path="/",
        secure=secure_cookies(state),
        httponly=True,
        samesite="lax",
    )
    return response


def _end(state: OAuthState, request: Request, cookie: str) -> None:
    now = state.ctx.clock.now()
    with state.ctx.db.begin() as conn:
        session = SessionRepository(conn).end(cookie, now)
        if session is not None:
            event = AuditEvent(
                action="auth.signout",
                actor=Actor(kind="user", id=session.user_id, auth="session"),
                target_type="session",
                target_id=session.sid,
                request=request_info(request),
            )
            AuditLog(conn).append(event, now)


routes = [
    Route("/logout", logout_form, methods=["GET"]),
    Route("/logout", logout_submit, methods=["POST"]),
]
