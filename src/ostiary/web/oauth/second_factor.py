"""The second sign-in page: a TOTP code (RFC 6238) after the password (issue 6 point 4).

``/login`` sends here, with the sealed pending state (``pending.py``), a user who has a
confirmed TOTP factor, or everyone when ``require_totp`` is set. A user who must use TOTP
but has none yet enrols on this page (key shown, first code confirms it) before the
session starts. The code is checked within one step of now, and its step is recorded in
the same transaction as the new session, so a code is good for one sign-in only (RFC 6238
section 5.2). Failures count towards the sign-in throttle of the username, so guessing
codes is as limited as guessing passwords (5 per username and address, 20 per username,
each per 15 minutes). The session's ``amr`` is ``["pwd", "otp"]`` (RFC 8176), so ID tokens
carry ``acr`` ``urn:ostiary:acr:mfa``.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode

import segno
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.directory import totp
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.totp import TotpRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth import pending
from ostiary.web.oauth.csp import form_headers, redirect_uri_of
from ostiary.web.oauth.login import (
    TEMPLATES,
    TOO_MANY,
    csrf_ok,
    read_form,
    secure_cookies,
    signed_in,
    start_session,
    with_csrf,
)
from ostiary.web.oauth.state import OAuthState

WRONG = "That code is not right, or it was already used. Wait for a new code and try again."
ISSUER_LABEL = "Ostiary"


def enrolment(conn: Any, state: OAuthState, user_id: str, account: str) -> dict[str, str]:
    """The key to show for enrolling ``user_id``: the waiting one, else a new one (sealed).
    Never called for a user whose factor is on: that key is never shown again."""
    repo = TotpRepository(conn, state.ctx.vault)
    credential = repo.get(user_id)
    if credential is not None and credential.confirmed:
        raise ValueError("the user's TOTP factor is already on")
    if credential is None:
        secret = totp.new_secret()
        repo.put(user_id, secret, state.ctx.clock.now(), confirmed=False)
    else:
        secret = credential.secret
    key = totp.to_base32(secret)
    uri = totp.otpauth_uri(secret, account, ISSUER_LABEL)
    return {
        "secret": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
        "uri": uri,
        "qr": qr_svg(uri),
    }


def qr_svg(text: str) -> Markup:
    """``text`` as a QR code in inline SVG (segno, pure Python): no image file or external
    asset, so the page keeps its ``default-src 'none'`` policy."""
    svg = segno.make(text, error="m").svg_inline(scale=4, dark="#000", light="#fff")
    # segno writes the markup itself; the URI is drawn as modules, never inserted as text.
    return Markup(svg)  # noqa: S704


def check_code(conn: Any, state: OAuthState, user_id: str, code: str) -> str | None:
    """Accept ``code`` for ``user_id`` (confirming a waiting enrolment); None when accepted,
    else the reason for the audit log."""
    now = state.ctx.clock.now()
    repo = TotpRepository(conn, state.ctx.vault)
    credential = repo.get(user_id)
    if credential is None:
        return "otp_not_enrolled"
    step = totp.verify(credential.secret, code, now.timestamp(), None)
    if step is None:
        return "wrong_otp"
    if credential.last_step is not None and step <= credential.last_step:
        return "otp_replayed"
    # The conditional UPDATE decides a race between two requests with the same code.
    accepted = repo.accept(user_id, step, now, confirm=not credential.confirmed)
    return None if accepted else "otp_replayed"


def _restart(state: OAuthState, message: bool = True) -> Response:
    query = "?" + urlencode({"expired": "1"}) if message else ""
    response = RedirectResponse("/login" + query, 303, headers={"Cache-Control": "no-store"})
    response.delete_cookie(
        pending.COOKIE, path=pending.PATH, secure=secure_cookies(state), httponly=True
    )
    return response


def _page(
    state: OAuthState, conn: Any, waiting: pending.Pending, error: str | None, status: int
) -> Response:
    csrf = secrets.token_urlsafe(32)
    context: dict[str, Any] = {"csrf_token": csrf, "account": waiting.user_name, "error": error}
    repo = TotpRepository(conn, state.ctx.vault)
    credential = repo.get(waiting.user_id)
    if credential is not None and credential.confirmed:
        html = TEMPLATES.get_template("totp.html").render(**context)
    else:  # require_totp and no factor yet: enrol now, the first code confirms it
        view = enrolment(conn, state, waiting.user_id, waiting.user_name)
        html = TEMPLATES.get_template("totp_enroll.html").render(
            **context, **view, action="/login/totp", enrolled=False
        )
    headers = form_headers(redirect_uri_of(waiting.next_url))
    return with_csrf(HTMLResponse(html, status, headers=headers), state, csrf)


async def totp_form(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    return await run_in_threadpool(_form, state, request)


def _form(state: OAuthState, request: Request) -> Response:
    waiting = pending.open_(
        state.ctx.vault, request.cookies.get(pending.COOKIE), state.ctx.clock.now()
    )
    if waiting is None:
        return _restart(state, message=False)
    with state.ctx.db.begin() as conn:
        return _page(state, conn, waiting, None, 200)


async def totp_submit(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    form = read_form(await request.body())
    return await run_in_threadpool(_submit, state, request, form)


def _submit(state: OAuthState, request: Request, form: dict[str, str]) -> Response:
    ctx = state.ctx
    now = ctx.clock.now()
    waiting = pending.open_(ctx.vault, request.cookies.get(pending.COOKIE), now)
    if waiting is None:
        return _restart(state)
    if not csrf_ok(request, form):
        with ctx.db.begin() as conn:
            return _page(state, conn, waiting, "Your session expired; please try again.", 403)
    ip = request.client.host if request.client else None
    throttled = state.signin_throttle.blocked(waiting.user_name, ip)
    # "password+totp" is the documented value (audit.events) the OCSF export reads as MFA.
    actor = Actor(kind="user", id=waiting.user_id, auth="password+totp")
    with ctx.db.begin() as conn:
        user = UserRepository(conn).get(waiting.user_id)
        if throttled:
            reason: str | None = "throttled"
        elif user is None or not user.active:
            reason = "inactive"
        else:
            reason = check_code(conn, state, waiting.user_id, form.get("code", "")[:32])
        if reason is None:
            cookie, session = start_session(conn, state, request, actor, ["pwd", "otp"])
            return signed_in(state, waiting.next_url, cookie, session)
        if reason != "throttled":
            state.signin_throttle.failed(waiting.user_name, ip)
        event = AuditEvent(
            action="auth.signin",
            actor=actor,
            outcome="failure",
            request=request_info(request),
            detail={"reason": reason, "factor": "otp"},
        )
        AuditLog(conn).append(event, now)
        if reason == "inactive":
            return _restart(state)
        status, error = (429, TOO_MANY) if reason == "throttled" else (401, WRONG)
        return _page(state, conn, waiting, error, status)


routes = [
    Route("/login/totp", totp_form, methods=["GET"]),
    Route("/login/totp", totp_submit, methods=["POST"]),
]
