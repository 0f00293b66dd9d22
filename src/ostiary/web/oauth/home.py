"""The page at ``/``: where ``/login`` sends a person who came with no usable ``next``
(``login.safe_next``), and what an operator opens first after ``make run``.

- With a live sign-in session (``login.current_session``: not ended, not expired, user
  active) it names the user and offers a sign-out button that posts to ``/logout`` with
  that endpoint's double-submit CSRF token (cookie scoped to ``/logout``); nothing signs
  out on a GET.
- Otherwise (no cookie, or one that is unknown, ended, expired or garbage) it links to
  the sign-in page and to the operator entry points. The API docs link appears only when
  the admin app serves them.
- Always ``Cache-Control: no-store`` (``PAGE_HEADERS``): one URL answers differently per
  cookie, and the signed-in answer sets a CSRF cookie, so no cache may keep either.
"""

from __future__ import annotations

import secrets

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import NoMatchFound, Route

from ostiary.store.repositories.users import UserRepository
from ostiary.web.oauth import logout
from ostiary.web.oauth.login import PAGE_HEADERS, TEMPLATES, current_session, session_cookie_name
from ostiary.web.oauth.state import OAuthState


def _user_name(state: OAuthState, request: Request) -> str | None:
    """The signed-in user's userName, or None (synchronous: call on a thread)."""
    session = current_session(request)
    if session is None:
        return None
    with state.ctx.db.read() as conn:
        user = UserRepository(conn).get(session.user_id)
    return user.user_name if user is not None else None


def _api_docs(request: Request) -> bool:
    """Whether the mounted admin app (``web/admin/app.py``) serves Swagger UI."""
    try:
        request.app.url_path_for("admin:docs")
    except NoMatchFound:
        return False
    return True


async def home(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    user_name = None
    if request.cookies.get(session_cookie_name(state)):  # no database work without one
        user_name = await run_in_threadpool(_user_name, state, request)
    if user_name is None:
        html = TEMPLATES.get_template("home.html").render(api_docs=_api_docs(request))
        return HTMLResponse(html, headers=PAGE_HEADERS)
    csrf = secrets.token_urlsafe(32)
    html = TEMPLATES.get_template("home.html").render(user_name=user_name, csrf_token=csrf)
    response = HTMLResponse(html, headers=PAGE_HEADERS)
    return logout.with_csrf(state, response, csrf, path="/logout")


# GET also answers HEAD (Starlette adds it).
routes = [Route("/", home, methods=["GET"])]
