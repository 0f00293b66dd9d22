"""The sign-in page and server-side sessions (issue 6 points 4 and 8, first part).

- CSRF: double-submit token. GET sets a random token in a SameSite=Strict, HttpOnly cookie
  and in the form; POST must carry both, equal (constant-time compare).
- Passwords are checked with argon2id (``ostiary.directory.passwords``) on a worker
  thread; unknown users are checked against a dummy hash so timing does not tell them
  apart. Deactivated users and users without a password cannot sign in. The answer to
  every failure is the same message; the audit log records the reason.
- A session is a row keyed by SHA-256 of a random cookie value; the cookie is HttpOnly,
  SameSite=Lax (it must survive the top-level redirect back from a relying party),
  Path=/, and Secure with the ``__Host-`` prefix when the issuer is https.
- ``next`` must be a local path, so the form cannot become an open redirect.

The authorization endpoint (not built yet) will send people here and read the session
with :func:`current_session`.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import timedelta
from urllib.parse import parse_qsl

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.directory.passwords import hash_password, verify_password
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.sessions import Session, SessionRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth.state import OAuthState

TEMPLATES = Environment(
    loader=PackageLoader("ostiary.web", "templates"), autoescape=select_autoescape()
)
CSRF_COOKIE = "ostiary_csrf"
FAILED = "The username or password is incorrect, or this account cannot sign in."
TOO_MANY = "Too many failed attempts. Wait a few minutes, then try again."
THROTTLED = "throttled"
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
MAX_BODY = 16 * 1024


def secure_cookies(state: OAuthState) -> bool:
    return state.issuer.startswith("https://")


def session_cookie_name(state: OAuthState) -> str:
    return "__Host-ostiary_session" if secure_cookies(state) else "ostiary_session"


def _safe_next(value: str | None) -> str:
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _page(
    csrf: str, *, next_url: str, username: str = "", error: str | None = None, status: int = 200
) -> HTMLResponse:
    html = TEMPLATES.get_template("login.html").render(
        csrf_token=csrf, next=next_url, username=username, error=error
    )
    return HTMLResponse(html, status, headers=PAGE_HEADERS)


def _with_csrf(response: Response, state: OAuthState, csrf: str) -> Response:
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(state),
        path="/login",
    )
    return response


async def login_form(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    csrf = secrets.token_urlsafe(32)
    next_url = _safe_next(request.query_params.get("next"))
    # OIDC Core 3.1.2.1 login_hint, passed on by /authorize: only prefills the field.
    hint = request.query_params.get("login_hint", "")[:512]
    return _with_csrf(_page(csrf, next_url=next_url, username=hint), state, csrf)


async def login_submit(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    raw = await request.body()
    form = dict(parse_qsl(raw[:MAX_BODY].decode("utf-8", "replace"), keep_blank_values=True))
    next_url = _safe_next(form.get("next"))
    cookie_csrf = request.cookies.get(CSRF_COOKIE, "")
    given = form.get("csrf_token", "")
    if not cookie_csrf or not hmac.compare_digest(cookie_csrf.encode(), given.encode()):
        csrf = secrets.token_urlsafe(32)
        page = _page(
            csrf, next_url=next_url, error="Your session expired; please try again.", status=403
        )
        return _with_csrf(page, state, csrf)
    username = form.get("username", "")[:512]
    outcome = await run_in_threadpool(
        _authenticate, state, request, username, form.get("password", "")
    )
    if outcome is None or outcome == THROTTLED:
        csrf = secrets.token_urlsafe(32)
        status, error = (429, TOO_MANY) if outcome == THROTTLED else (401, FAILED)
        page = _page(csrf, next_url=next_url, username=username, error=error, status=status)
        return _with_csrf(page, state, csrf)
    assert not isinstance(outcome, str)
    cookie, session = outcome
    response = RedirectResponse(next_url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        session_cookie_name(state),
        cookie,
        httponly=True,
        samesite="lax",
        secure=secure_cookies(state),
        path="/",
        max_age=int((session.expires_at - session.auth_time).total_seconds()),
    )
    response.delete_cookie(CSRF_COOKIE, path="/login")
    return response


def _authenticate(
    state: OAuthState, request: Request, username: str, password: str
) -> tuple[str, Session] | str | None:
    ctx = state.ctx
    ip = request.client.host if request.client else None
    with ctx.db.read() as conn:
        user = UserRepository(conn).get_by_user_name(username) if username else None
    throttled = state.signin_throttle.blocked(username, ip)
    stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
    ok = not throttled and verify_password(stored, password)  # argon2 unless throttled
    reason = None
    if throttled:
        reason = "throttled"
    elif user is None:
        reason = "unknown_user"
    elif not user.password_hash:
        reason = "no_password"
    elif not ok:
        reason = "wrong_password"
    elif not user.active:
        reason = "inactive"
    now = ctx.clock.now()
    actor = Actor(kind="user", id=user.id if user else f"unknown:{username[:64]}", auth="password")
    with ctx.db.begin() as conn:
        log = AuditLog(conn)
        if reason is not None:
            if reason != "throttled":
                state.signin_throttle.failed(username, ip)
            event = AuditEvent(
                action="auth.signin",
                actor=actor,
                outcome="failure",
                request=request_info(request),
                detail={"reason": reason},
            )
            log.append(event, now)
            return THROTTLED if reason == THROTTLED else None
        assert user is not None
        lifetime = timedelta(hours=ctx.settings.session_lifetime_hours)
        cookie, session = SessionRepository(conn).create(user.id, now, now + lifetime, ["pwd"])
        event = AuditEvent(
            action="auth.signin",
            actor=actor,
            target_type="session",
            target_id=session.sid,
            request=request_info(request),
            detail={"amr": ["pwd"]},
        )
        log.append(event, now)
    return cookie, session


def current_session(request: Request) -> Session | None:
    """The signed-in session of this browser, if any (synchronous: call on a thread)."""
    state: OAuthState = request.app.state.oauth
    cookie = request.cookies.get(session_cookie_name(state))
    if not cookie:
        return None
    with state.ctx.db.read() as conn:
        return SessionRepository(conn).current(cookie, state.ctx.clock.now())


routes = [
    Route("/login", login_form, methods=["GET"]),
    Route("/login", login_submit, methods=["POST"]),
]
