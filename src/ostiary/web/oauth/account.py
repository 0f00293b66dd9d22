"""Self-service TOTP enrolment at ``/account/totp`` (issue 6 point 4, RFC 6238).

A signed-in user gets a new key (base32 and an ``otpauth://`` URI), sealed at rest and
waiting until the user proves the app has it by typing a current code; only then is the
factor on, and later sign-ins ask for it. The form is CSRF-protected (double submit, the
cookie scoped to /account). Turning it on is audited as ``user.totp.enroll``. A user whose
factor is on cannot replace it here: a stolen session must not be able to move the
second factor to the thief's phone. An administrator resets it (``ostiary users totp
reset``).
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.sessions import Session
from ostiary.store.repositories.totp import has_totp
from ostiary.store.repositories.users import UserRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth.login import (
    PAGE_HEADERS,
    TEMPLATES,
    csrf_ok,
    current_session,
    read_form,
    with_csrf,
)
from ostiary.web.oauth.second_factor import WRONG, check_code, enrolment
from ostiary.web.oauth.state import OAuthState

PATH = "/account/totp"


def _to_login() -> Response:
    location = "/login?" + urlencode({"next": PATH})
    return RedirectResponse(location, 303, headers={"Cache-Control": "no-store"})


def _page(
    state: OAuthState, conn: Any, session: Session, error: str | None = None, status: int = 200
) -> Response:
    user = UserRepository(conn).get(session.user_id)
    account = user.user_name if user is not None else session.user_id
    csrf = secrets.token_urlsafe(32)
    context: dict[str, Any] = {"csrf_token": csrf, "account": account, "error": error}
    if has_totp(conn, session.user_id):
        context["enrolled"] = True
    else:
        context.update(enrolment(conn, state, session.user_id, account), enrolled=False)
    html = TEMPLATES.get_template("totp_enroll.html").render(**context, action=PATH)
    return with_csrf(HTMLResponse(html, status, headers=PAGE_HEADERS), state, csrf, path=PATH)


async def enrol_form(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    return await run_in_threadpool(_form, state, request)


def _form(state: OAuthState, request: Request) -> Response:
    session = current_session(request)
    if session is None:
        return _to_login()
    with state.ctx.db.begin() as conn:
        return _page(state, conn, session)


async def enrol_submit(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    form = read_form(await request.body())
    return await run_in_threadpool(_submit, state, request, form)


def _submit(state: OAuthState, request: Request, form: dict[str, str]) -> Response:
    session = current_session(request)
    if session is None:
        return _to_login()
    with state.ctx.db.begin() as conn:
        if not csrf_ok(request, form):
            return _page(state, conn, session, "Your session expired; please try again.", 403)
        if has_totp(conn, session.user_id):
            return _page(state, conn, session)
        reason = check_code(conn, state, session.user_id, form.get("code", "")[:32])
        if reason is not None:
            return _page(state, conn, session, WRONG, 400)
        event = AuditEvent(
            action="user.totp.enroll",
            actor=Actor(kind="user", id=session.user_id, auth="session"),
            target_type="user",
            target_id=session.user_id,
            request=request_info(request),
            detail={"via": "account", "sid": session.sid},
        )
        AuditLog(conn).append(event, state.ctx.clock.now())
        return _page(state, conn, session)


routes = [
    Route(PATH, enrol_form, methods=["GET"]),
    Route(PATH, enrol_submit, methods=["POST"]),
]
