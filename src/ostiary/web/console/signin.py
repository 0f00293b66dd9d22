"""Signing in to the console and out of it (issue 9 points 2 and 4).

The console reuses the sign-in session of Ostiary's own login page (see
docs/decisions/0003-console-sign-in.md): /console/signin sends a browser without a live
sign-in (or, with ``max_age``, with one older than that) to /login, then turns the
sign-in session into a console session of its own, for users who hold a role.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from ostiary.audit.events import Actor, AuditEvent
from ostiary.keys.roles import Roles
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.console_sessions import ConsoleSessionRepository, cookie_hash
from ostiary.store.repositories.roles import RoleRepository
from ostiary.store.repositories.sessions import Session
from ostiary.web.audit import request_info
from ostiary.web.console.guard import (
    HEADERS,
    Admin,
    Rule,
    cookie_name,
    cookie_path,
    forbidden,
    local_console_path,
    post,
    secure,
    see_other,
)
from ostiary.web.context import AppContext
from ostiary.web.oauth.login import current_session


def _to_login(request: Request) -> Response:
    back = "/console/signin?" + urlencode(dict(request.query_params))
    return RedirectResponse("/login?" + urlencode({"next": back}), status_code=303, headers=HEADERS)


def _max_age(request: Request) -> int | None:
    value = request.query_params.get("max_age", "")
    return int(value) if value.isdigit() and len(value) < 10 else None


async def signin(request: Request) -> Response:
    return await run_in_threadpool(_signin, request)


def _signin(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    op = current_session(request)
    max_age = _max_age(request)
    now = ctx.clock.now()
    if op is None or (max_age is not None and (now - op.auth_time).total_seconds() > max_age):
        return _to_login(request)
    next_url = local_console_path(request.query_params.get("next"))
    actor = Actor(kind="user", id=op.user_id, auth="console:" + "+".join(op.amr))
    with ctx.db.begin() as conn:
        roles = Roles.of(RoleRepository(conn).of(op.user_id))
        log = AuditLog(conn)
        if not roles.names:
            log.append(_event(request, actor, op, "denied", {"reason": "no_role"}), now)
            return forbidden(request, None, "Your account has no administrator role.")
        repo = ConsoleSessionRepository(conn)
        old = request.cookies.get(cookie_name(ctx))
        if old:
            repo.end(cookie_hash(old), now)
        cookie = repo.create(op.user_id, op.sid, now)
        detail = {"roles": roles.sorted(), "amr": list(op.amr)}
        log.append(_event(request, actor, op, "success", detail), now)
    response = see_other(next_url)
    response.set_cookie(
        cookie_name(ctx),
        cookie,
        httponly=True,
        samesite="strict",
        secure=secure(ctx),
        path=cookie_path(ctx),  # no max-age: the server enforces the idle timeout
    )
    return response


def _event(
    request: Request, actor: Actor, op: Session, outcome: str, detail: dict[str, Any]
) -> AuditEvent:
    return AuditEvent(
        action="console.signin",
        actor=actor,
        outcome=outcome,
        target_type="session",
        target_id=op.sid,
        request=request_info(request),
        detail=detail,
    )


def signout(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    """End the console session, then offer to end the sign-in session too (/logout)."""
    ctx: AppContext = request.app.state.ctx
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        ConsoleSessionRepository(conn).end(admin.session.id_hash, now)
        event = AuditEvent(
            action="console.signout",
            actor=admin.actor,
            target_type="session",
            target_id=admin.session.op_sid,
            request=request_info(request),
        )
        AuditLog(conn).append(event, now)
    response = see_other("/logout")
    response.delete_cookie(cookie_name(ctx), path=cookie_path(ctx))
    return response


routes = [
    Route("/console/signin", signin, methods=["GET"]),
    post("/console/signout", signout, Rule()),
]
