"""Users: search with SCIM filter syntax, view, deactivate (issue 9 point 2).

Deactivation is the SCIM one: the user's ``active`` becomes false and, in the same
transaction, ``on_user_deactivated`` ends sessions, revokes tokens, queues the SSF and
webhook fan-out and audits it, with the console administrator as the actor.
"""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response

from ostiary.audit.events import AuditEvent
from ostiary.keys import scopes
from ostiary.scim.filter_schema import USER
from ostiary.scim.users import ACTIVE_UNSET
from ostiary.store.repositories import console_views as views
from ostiary.store.repositories.groups import GroupRepository
from ostiary.store.repositories.roles import RoleRepository
from ostiary.store.repositories.users import UserRepository, row_to_user
from ostiary.web.audit import request_info
from ostiary.web.console.guard import Admin, Rule, get, not_found, post, render, see_other
from ostiary.web.console.search import list_page
from ostiary.web.context import AppContext
from ostiary.web.scim.lifecycle import on_user_deactivated

READ = Rule(scopes.USERS_READ)
DEACTIVATE = Rule(scopes.USERS_DEPROVISION, fresh=True)


def list_users(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    return list_page(request, admin, USER, row_to_user, "users")


def show_user(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    user_id = request.path_params["user_id"]
    with ctx.db.read() as conn:
        user = UserRepository(conn).get(user_id)
        if user is None:
            return not_found(request, admin, "user")
        groups = GroupRepository(conn).groups_of(user_id)
        roles = sorted(RoleRepository(conn).of(user_id))
        # What happened to this user: the helpdesk sees the deprovisioning it caused.
        events = views.newest_events(conn, views.EventFilter(target=user_id), 20)
    return render(request, admin, "user.html", user=user, groups=groups, roles=roles, events=events)


def deactivate(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    user_id = request.path_params["user_id"]
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        repo = UserRepository(conn)
        user = repo.get(user_id, for_update=True)
        if user is None:
            return not_found(request, admin, "user")
        if user.active:
            # An explicit false, as a SCIM client would send (rendered from now on).
            doc = {k: v for k, v in user.doc.items() if k != ACTIVE_UNSET}
            after = replace(user, active=False, doc=doc, version=user.version + 1, updated_at=now)
            repo.update(after, user.version, previous=user)
            event = AuditEvent(
                action="console.user.deactivate",
                actor=admin.actor,
                target_type="User",
                target_id=user_id,
                request=request_info(request),
                before={"active": True},
                after={"active": False},
            )
            on_user_deactivated(
                conn,
                user_id,
                actor=admin.actor,
                request=request_info(request),
                now=now,
                reason="deactivated",
                ctx=ctx,
                first=[event],
            )
    if ctx._outbox is not None:
        ctx._outbox.kick()  # deliver the SETs now, not at the next poll
    return see_other(f"/console/users/{user_id}")


routes = [
    get("/console/users", list_users, READ),
    get("/console/users/{user_id}", show_user, READ),
    post("/console/users/{user_id}/deactivate", deactivate, DEACTIVATE),
]
