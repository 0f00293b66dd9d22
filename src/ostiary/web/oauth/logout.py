"""Signing out at Ostiary itself (issue 6 point 8): a confirmation page, then a
CSRF-checked POST that ends the server-side session (with back-channel logout to its
clients, ``session_end``) and clears its cookie. RP-initiated logout is ``end_session``."""

from __future__ import annotations

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ostiary.web.oauth import session_end
from ostiary.web.oauth.csp import form_headers
from ostiary.web.oauth.login import TEMPLATES, secure_cookies, session_cookie_name
from ostiary.web.oauth.state import OAuthState

CSRF_COOKIE = "ostiary_logout_csrf"


def page(
    state: OAuthState,
    *,
    signed_out: bool,
    status: int = 200,
    cookie: str = CSRF_COOKIE,
    path: str = "/logout",
    **context: Any,
) -> HTMLResponse:
    """The sign-out page; when asking, with a fresh CSRF token in the form and in a
    SameSite=Strict cookie scoped to ``path`` (the form posts back there)."""
    csrf = secrets.token_urlsafe(32)
    html = TEMPLATES.get_template("logout.html").render(
        csrf_token=csrf, signed_out=signed_out, action=path, **context
    )
    # A confirmed RP-initiated logout redirects to the client: allow its origin (csp.py).
    back = dict(context.get("hidden") or []).get("post_logout_redirect_uri")
    response = HTMLResponse(html, status, headers=form_headers(back))
    if not signed_out:
        with_csrf(state, response, csrf, cookie=cookie, path=path)
    return response


def with_csrf(
    state: OAuthState, response: Response, csrf: str, *, cookie: str = CSRF_COOKIE, path: str
) -> Response:
    """The double-submit cookie for a sign-out form that posts to ``path`` (also used by
    the home page, whose sign-out button posts to /logout)."""
    response.set_cookie(
        cookie, csrf, httponly=True, samesite="strict", secure=secure_cookies(state), path=path
    )
    return response


async def logout_form(request: Request) -> Response:
    return page(request.app.state.oauth, signed_out=False)


async def logout_submit(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    form = dict(parse_qsl((await request.body())[:4096].decode("utf-8", "replace")))
    given, expected = form.get("csrf_token", ""), request.cookies.get(CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        return page(state, signed_out=False, status=403)
    cookie = request.cookies.get(session_cookie_name(state))
    if cookie:
        await run_in_threadpool(session_end.end, state, request, cookie, via="logout")
    return session_end.clear_cookie(state, page(state, signed_out=True))


routes = [
    Route("/logout", logout_form, methods=["GET"]),
    Route("/logout", logout_submit, methods=["POST"]),
]
