"""Groups: search with SCIM filter syntax and view (issue 9 point 2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.keys import scopes
from ostiary.scim.filter_schema import GROUP
from ostiary.store.repositories.groups import GroupRepository, row_to_group
from ostiary.store.repositories.users import UserRepository
from ostiary.web.console.guard import Admin, Rule, get, not_found, render
from ostiary.web.console.search import list_page
from ostiary.web.context import AppContext

READ = Rule(scopes.GROUPS_READ)
MEMBERS_SHOWN = 200


def list_groups(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    return list_page(request, admin, GROUP, row_to_group, "groups")


def show_group(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    group_id = request.path_params["group_id"]
    with ctx.db.read() as conn:
        group = GroupRepository(conn).get(group_id)
        if group is None:
            return not_found(request, admin, "group")
        members = GroupRepository(conn).members(group_id)
        users = UserRepository(conn)
        named = []
        for m in members[:MEMBERS_SHOWN]:
            user = users.get(m.id) if m.type == "User" else None
            named.append((m, user.user_name if user else m.display or m.id))
    return render(request, admin, "group.html", group=group, members=named, total=len(members))


routes = [
    get("/console/groups", list_groups, READ),
    get("/console/groups/{group_id}", show_group, READ),
]
