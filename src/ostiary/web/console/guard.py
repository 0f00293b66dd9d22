"""What every console route goes through (issue 9 points 3 and 4).

- Authentication: the console session cookie (HttpOnly, SameSite=Strict, Secure with the
  ``__Host-`` prefix on https), idle timeout, riding on a live sign-in session.
- Authorization: the route's permission against the administrator's roles, read from the
  database on every request (a revoked role takes effect at once); 403 page otherwise.
- Second factor: routes marked ``otp`` need "otp" in the sign-in's amr.
- CSRF: every POST carries a token derived from the session (HMAC of the cookie's hash).
- Re-authentication: routes marked ``fresh`` need a sign-in within REAUTH; otherwise the
  browser is sent to sign in again (the ``prompt=login`` of the console).
- Headers: a CSP without unsafe-inline, frame denial, no referrer, no caching.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.keys.roles import SECOND_FACTOR, Roles
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.console_sessions import (
    TOUCH_EVERY,
    ConsoleSession,
    ConsoleSessionRepository,
)
from ostiary.store.repositories.roles import RoleRepository
from ostiary.web.audit import request_info
from ostiary.web.context import AppContext

IDLE = timedelta(minutes=15)
REAUTH = timedelta(minutes=5)
MAX_BODY = 16 * 1024
HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
}
TEMPLATES = Environment(
    loader=PackageLoader("ostiary.web", "templates"), autoescape=select_autoescape()
)

Handler = Callable[[Request, "Admin", dict[str, str]], Response]


def secure(ctx: AppContext) -> bool:
    return str(ctx.settings.issuer).startswith("https://")


def cookie_name(ctx: AppContext) -> str:
    return "__Host-ostiary_console" if secure(ctx) else "ostiary_console"


def cookie_path(ctx: AppContext) -> str:
    return "/" if secure(ctx) else "/console"  # __Host- cookies must be Path=/


def _cross_site(request: Request) -> bool:
    """A browser's Origin naming another host than the one it sent the form to (the scheme
    is not compared: a TLS-terminating proxy changes it). "null" passes: with
    Referrer-Policy no-referrer browsers send it on same-origin form posts too; the CSRF
    token is the check that does not depend on it."""
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return False
    return urlsplit(origin).netloc != request.headers.get("host", "")


def csrf_for(id_hash: bytes) -> str:
    return hmac.new(id_hash, b"ostiary console csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Admin:
    """The signed-in administrator of this request."""

    session: ConsoleSession
    roles: Roles

    @property
    def user_id(self) -> str:
        return self.session.user_id

    @property
    def csrf(self) -> str:
        return csrf_for(self.session.id_hash)

    @property
    def has_second_factor(self) -> bool:
        return SECOND_FACTOR in self.session.amr

    def can(self, permission: str) -> bool:
        return self.roles.allows(permission)

    @property
    def actor(self) -> Actor:
        return Actor(kind="user", id=self.user_id, auth="console:" + "+".join(self.session.amr))


def render(
    request: Request, admin: Admin | None, template: str, status: int = 200, **values: Any
) -> HTMLResponse:
    html = TEMPLATES.get_template(f"console/{template}").render(
        admin=admin, path=request.url.path, **values
    )
    return HTMLResponse(html, status, headers=HEADERS)


def forbidden(request: Request, admin: Admin | None, reason: str) -> HTMLResponse:
    return render(request, admin, "forbidden.html", 403, reason=reason)


def not_found(request: Request, admin: Admin | None, what: str) -> HTMLResponse:
    return render(request, admin, "not_found.html", 404, what=what)


def audit(ctx: AppContext, request: Request, event: AuditEvent) -> None:
    with ctx.db.begin() as conn:
        AuditLog(conn).append(event, ctx.clock.now())


def local_console_path(value: str | None, default: str = "/console") -> str:
    """Only console paths: a ``next``/``back`` value can never leave the console."""
    if not value or not value.startswith("/console") or "//" in value or "\\" in value:
        return default
    return value


def to_signin(next_url: str, max_age: int | None = None) -> RedirectResponse:
    query = {"next": local_console_path(next_url)}
    if max_age is not None:
        query["max_age"] = str(max_age)
    return RedirectResponse("/console/signin?" + urlencode(query), status_code=303, headers=HEADERS)


def authenticate(ctx: AppContext, request: Request) -> Admin | None:
    cookie = request.cookies.get(cookie_name(ctx))
    if not cookie:
        return None
    now = ctx.clock.now()
    with ctx.db.read() as conn:
        session = ConsoleSessionRepository(conn).current(cookie, now, IDLE)
        if session is None:
            return None
        roles = Roles.of(RoleRepository(conn).of(session.user_id))
    if not roles.names:
        return None
    if now - session.last_seen_at >= TOUCH_EVERY:  # a write only once a minute, not per page
        with ctx.db.begin() as conn:
            ConsoleSessionRepository(conn).touch(session, now)
    return Admin(session, roles)


@dataclass(frozen=True)
class Rule:
    permission: str | None = None
    otp: bool = False  # the second factor (TOTP) must be part of the sign-in
    fresh: bool = False  # destructive: the sign-in must be recent


def _denied(ctx: AppContext, request: Request, admin: Admin, why: str) -> Response:
    event = AuditEvent(
        action="console.denied",
        actor=admin.actor,
        outcome="denied",
        request=request_info(request),
        detail={"path": request.url.path, "method": request.method, "reason": why},
    )
    audit(ctx, request, event)
    return forbidden(request, admin, why)


def _check(
    ctx: AppContext, request: Request, rule: Rule, form: dict[str, str]
) -> tuple[Admin | None, Response | None]:
    admin = authenticate(ctx, request)
    back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if admin is None:
        target = back if request.method == "GET" else form.get("back", "/console")
        return None, to_signin(target)
    if rule.permission is not None and not admin.can(rule.permission):
        return admin, _denied(ctx, request, admin, "Your role does not allow this page.")
    if rule.otp and not admin.has_second_factor:
        why = (
            "Key pages need a sign-in with a one-time code (TOTP). Set up an authenticator "
            "app at /account/totp if you have none, then sign out and sign in again."
        )
        return admin, _denied(ctx, request, admin, why)
    if request.method == "POST":
        if _cross_site(request):
            return admin, forbidden(request, admin, "The form came from another site.")
        given = form.get("csrf_token", "")
        if not hmac.compare_digest(given.encode(), admin.csrf.encode()):
            return admin, forbidden(request, admin, "The form expired. Reload the page.")
        if rule.fresh and ctx.clock.now() - admin.session.auth_time > REAUTH:
            # Sign in again, then come back to the page the action was on.
            return admin, to_signin(form.get("back", "/console"), int(REAUTH.total_seconds()))
    return admin, None


def console_route(path: str, handler: Handler, rule: Rule, methods: list[str]) -> Route:
    async def endpoint(request: Request) -> Response:
        ctx: AppContext = request.app.state.ctx
        form: dict[str, str] = {}
        if request.method == "POST":
            raw = await request.body()
            if len(raw) > MAX_BODY:
                return render(request, None, "forbidden.html", 413, reason="The form is too large.")
            for name, value in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True):
                # A repeated field (checkboxes) arrives space-separated.
                form[name] = f"{form[name]} {value}" if name in form else value

        def run() -> Response:
            admin, refused = _check(ctx, request, rule, form)
            if refused is not None:
                return refused
            assert admin is not None
            return handler(request, admin, form)

        return await run_in_threadpool(run)

    return Route(path, endpoint, methods=methods)


def get(path: str, handler: Handler, rule: Rule) -> Route:
    return console_route(path, handler, rule, ["GET"])


def post(path: str, handler: Handler, rule: Rule) -> Route:
    return console_route(path, handler, rule, ["POST"])


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=HEADERS)
