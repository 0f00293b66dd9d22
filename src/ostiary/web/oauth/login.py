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
- ``next`` must be a local path, so the form cannot become an open redirect; without a
  usable one the browser lands on ``/`` (``home.py``: who is signed in, and sign-out).

- A user with a confirmed TOTP factor (or everyone, with ``require_totp``) gets no session
  for the password alone: a short-lived, vault-sealed pending state goes to the second
  page (``second_factor.py``), which creates the session with ``amr`` ``["pwd", "otp"]``.

The authorization endpoint sends people here and reads the session with
:func:`current_session`.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
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
from ostiary.store.repositories.totp import has_totp
from ostiary.store.repositories.users import UserRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth import pending

# PAGE_HEADERS moved to csp.py; re-exported for the pages that import it from here.
from ostiary.web.oauth.csp import PAGE_HEADERS as PAGE_HEADERS
from ostiary.web.oauth.csp import form_headers, redirect_uri_of
from ostiary.web.oauth.state import OAuthState

TEMPLATES = Environment(
    loader=PackageLoader("ostiary.web", "templates"), autoescape=select_autoescape()
)
CSRF_COOKIE = "ostiary_csrf"
FAILED = "The username or password is incorrect, or this account cannot sign in."
TOO_MANY = "Too many failed attempts. Wait a few minutes, then try again."
THROTTLED = "throttled"
EXPIRED = "Your sign-in took too long; please sign in again."
_DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
MAX_BODY = 16 * 1024


@dataclass(frozen=True)
class SecondFactor:
    """The password was right; the user must still give a one-time code."""

    user_id: str
    user_name: str


def secure_cookies(state: OAuthState) -> bool:
    return state.issuer.startswith("https://")


def session_cookie_name(state: OAuthState) -> str:
    return "__Host-ostiary_session" if secure_cookies(state) else "ostiary_session"


def safe_next(value: str | None) -> str:
    """A local path only, so that no form becomes an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def _page(
    csrf: str, *, next_url: str, username: str = "", error: str | None = None, status: int = 200
) -> HTMLResponse:
    html = TEMPLATES.get_template("login.html").render(
        csrf_token=csrf, next=next_url, username=username, error=error
    )
    return HTMLResponse(html, status, headers=form_headers(redirect_uri_of(next_url)))


def with_csrf(response: Response, state: OAuthState, csrf: str, path: str = "/login") -> Response:
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(state),
        path=path,
    )
    return response


def csrf_ok(request: Request, form: dict[str, str]) -> bool:
    """Double submit: the form's token equals the cookie's (constant-time compare)."""
    cookie_csrf = request.cookies.get(CSRF_COOKIE, "")
    given = form.get("csrf_token", "")
    return bool(cookie_csrf) and hmac.compare_digest(cookie_csrf.encode(), given.encode())


def read_form(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw[:MAX_BODY].decode("utf-8", "replace"), keep_blank_values=True))


async def login_form(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    csrf = secrets.token_urlsafe(32)
    next_url = safe_next(request.query_params.get("next"))
    # OIDC Core 3.1.2.1 login_hint, passed on by /authorize: only prefills the field.
    hint = request.query_params.get("login_hint", "")[:512]
    # A pending second factor that ran out of time comes back here (second_factor.py).
    error = EXPIRED if request.query_params.get("expired") else None
    page = _page(csrf, next_url=next_url, username=hint, error=error)
    return with_csrf(page, state, csrf)


async def login_submit(request: Request) -> Response:
    state: OAuthState = request.app.state.oauth
    form = read_form(await request.body())
    next_url = safe_next(form.get("next"))
    if not csrf_ok(request, form):
        csrf = secrets.token_urlsafe(32)
        page = _page(
            csrf, next_url=next_url, error="Your session expired; please try again.", status=403
        )
        return with_csrf(page, state, csrf)
    username = form.get("username", "")[:512]
    outcome = await run_in_threadpool(
        _authenticate, state, request, username, form.get("password", "")
    )
    if outcome is None or outcome == THROTTLED:
        csrf = secrets.token_urlsafe(32)
        status, error = (429, TOO_MANY) if outcome == THROTTLED else (401, FAILED)
        page = _page(csrf, next_url=next_url, username=username, error=error, status=status)
        return with_csrf(page, state, csrf)
    if isinstance(outcome, SecondFactor):
        return await run_in_threadpool(_to_second_factor, state, outcome, next_url)
    assert not isinstance(outcome, str)
    return signed_in(state, next_url, *outcome)


def _to_second_factor(state: OAuthState, factor: SecondFactor, next_url: str) -> Response:
    now = state.ctx.clock.now()
    sealed = pending.seal(state.ctx.vault, factor.user_id, factor.user_name, next_url, now)
    response = RedirectResponse("/login/totp", 303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        pending.COOKIE,
        sealed,
        max_age=int(pending.LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure_cookies(state),
        path=pending.PATH,
    )
    return response


def signed_in(state: OAuthState, next_url: str, cookie: str, session: Session) -> Response:
    """The redirect onwards that hands the browser its session cookie."""
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
    response.delete_cookie(pending.COOKIE, path=pending.PATH)
    return response


def _authenticate(
    state: OAuthState, request: Request, username: str, password: str
) -> tuple[str, Session] | SecondFactor | str | None:
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
        if ctx.settings.require_totp or has_totp(conn, user.id):
            event = AuditEvent(
                action="auth.signin.password",
                actor=actor,
                target_type="user",
                target_id=user.id,
                request=request_info(request),
                detail={"next": "otp"},
            )
            log.append(event, now)
            return SecondFactor(user.id, user.user_name)
        return start_session(conn, state, request, actor, ["pwd"])


def start_session(
    conn: Any, state: OAuthState, request: Request, actor: Actor, amr: list[str]
) -> tuple[str, Session]:
    """Create the session for ``actor`` (a user) and audit the sign-in, in ``conn``."""
    now = state.ctx.clock.now()
    lifetime = timedelta(hours=state.ctx.settings.session_lifetime_hours)
    cookie, session = SessionRepository(conn).create(actor.id, now, now + lifetime, amr)
    event = AuditEvent(
        action="auth.signin",
        actor=actor,
        target_type="session",
        target_id=session.sid,
        request=request_info(request),
        detail={"amr": amr},
    )
    AuditLog(conn).append(event, now)
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
