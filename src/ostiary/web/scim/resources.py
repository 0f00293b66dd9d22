"""/scim/v2/Users/{id}, /Groups/{id}, POST /Users and POST /Groups (listing and search
belong to search.py).

Both resource types run the same handlers; what differs (scopes, the key guards, how
a resource and its costly attribute are loaded, the write operations) is one
:class:`Kind` row each. Every response that returns a resource honours
``attributes``/``excludedAttributes`` (RFC 7644 section 3.9).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from ostiary.keys import scopes
from ostiary.keys.models import KeyPrincipal
from ostiary.scim import errors
from ostiary.scim.groups import render_group
from ostiary.scim.users import etag, render_user
from ostiary.store.repositories.groups import GroupRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.context import AppContext
from ostiary.web.scim import group_ops, guards, user_ops
from ostiary.web.scim.auth import authenticate, check_attributes
from ostiary.web.scim.call import Call, Outcome, none_match, search_schema
from ostiary.web.scim.endpoint import parse_json, scim_endpoint
from ostiary.web.scim.projecting import asked, projected, wants_attribute
from ostiary.web.scim.responses import scim_json
from ostiary.web.scim.writes import Before, run_write, run_write_grouped

Endpoint = Callable[[Request], Any]
# (connection, base URL, resource, whether to load the costly attribute) -> SCIM JSON
Render = Callable[[Connection, str, Any, bool], dict[str, Any]]


def _render_user(conn: Connection, base: str, user: Any, related: bool) -> dict[str, Any]:
    memberships = GroupRepository(conn).groups_of(user.id) if related else []
    groups = [
        {"value": gid, "$ref": f"{base}/Groups/{gid}", "display": name, "type": "direct"}
        for gid, name in memberships
    ]
    return render_user(user, base, groups)


def _render_group(conn: Connection, base: str, group: Any, related: bool) -> dict[str, Any]:
    members = GroupRepository(conn).members(group.id) if related else None
    return render_group(group, base, members)


def _user_checks(request: Request, raw: bytes, action: str) -> Before:
    """Attribute restrictions, then the deprovisioning-burst guard for a deactivation
    or a delete."""

    def before(principal: KeyPrincipal) -> Response | None:
        if action == "delete":
            op = guards.operation(principal, request, "delete", id=request.path_params["id"])
            return guards.hold(request, principal, 1, op)
        body = parse_json(raw)
        check_attributes(request, principal, "User", body, patch=action == "patch")
        count = guards.deactivations("PATCH" if action == "patch" else "PUT", body)
        if action == "create":
            return None
        op = guards.operation(principal, request, action, id=request.path_params["id"], body=body)
        return guards.hold(request, principal, count, op)

    return before


def _group_checks(request: Request, raw: bytes, action: str) -> Before | None:
    if action == "delete":
        return None

    def before(principal: KeyPrincipal) -> Response | None:
        check_attributes(request, principal, "Group", parse_json(raw), patch=action == "patch")
        return None

    return before


@dataclass(frozen=True)
class Kind:
    name: str  # "User" / "Group"
    read: str
    write: str
    delete_scope: str
    related: str  # the attribute that costs a query of its own
    get: Callable[[Connection, str], Any]  # the stored resource or None
    render: Render
    checks: Callable[[Request, bytes, str], Before | None]
    create: Callable[[Call, Any], Outcome]
    replace: Callable[[Call, str, Any], Outcome]
    patch: Callable[[Call, str, Any], Outcome]
    delete: Callable[[Call, str], Outcome]


USER = Kind(
    "User",
    scopes.USERS_READ,
    scopes.USERS_WRITE,
    # Deleting is deprovisioning: users:deprovision alone suffices (an HR kill-switch key).
    scopes.USERS_DEPROVISION,
    "groups",
    lambda conn, rid: UserRepository(conn).get(rid),
    _render_user,
    _user_checks,
    user_ops.create_user,
    user_ops.replace_user,
    user_ops.patch_user,
    user_ops.delete_user,
)
GROUP = Kind(
    "Group",
    scopes.GROUPS_READ,
    scopes.GROUPS_WRITE,
    scopes.GROUPS_WRITE,
    "members",
    lambda conn, rid: GroupRepository(conn).get(rid),
    _render_group,
    _group_checks,
    group_ops.create_group,
    group_ops.replace_group,
    group_ops.patch_group,
    group_ops.delete_group,
)


def _wants_related(request: Request, kind: Kind) -> bool:
    ctx: AppContext = request.app.state.ctx
    return wants_attribute(request, search_schema(ctx, kind.name), kind.related)


def _current(request: Request, kind: Kind, call: Call, rid: str) -> Outcome:
    found = kind.get(call.conn, rid)
    doc = kind.render(call.conn, call.base, found, _wants_related(request, kind))
    return Outcome(200, doc, found.version)


def read(
    request: Request,
    kind: Kind,
    rid: str,
    *,
    missing: Callable[[str], errors.ScimError] | None = None,
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """GET one resource (RFC 7644 3.4.1) with If-None-Match (3.14) and attributes/
    excludedAttributes (3.9). /Me passes ``missing`` (an inactive user is a 401 there),
    ``shape`` (what the token's scopes allow) and a Content-Location header."""
    ctx: AppContext = request.app.state.ctx
    with ctx.db.read() as conn:
        found = kind.get(conn, rid)
        if found is None or (missing is not None and not found.active):
            if missing is not None:
                raise missing(rid)
            raise errors.NotFound(f"no {kind.name} with id {rid}")
        tag = {"ETag": etag(found.version)}
        if none_match(request.headers.get("if-none-match"), found.version):
            return Response(status_code=304, headers=tag)
        doc = kind.render(conn, ctx.scim_base, found, _wants_related(request, kind))
    doc = projected(request, shape(doc) if shape else doc, search_schema(ctx, kind.name))
    return scim_json(doc, headers={**tag, **(headers or {})})


def read_user(request: Request, user_id: str, **how: Any) -> Response:
    """One user, as /Me reads it (see :func:`read`)."""
    return read(request, USER, user_id, **how)


def _user_read_on_sqlite(request: Request) -> bool:
    """GET /Users/{id} on SQLite: two indexed reads in this process (the user, its groups),
    cheaper on the event loop than handed to a thread (the eq lookup's reasoning). A group
    can hold 100,000 members and PostgreSQL means round trips: those keep the thread."""
    return bool(request.app.state.ctx.db.dialect == "sqlite")


def _handlers(kind: Kind) -> dict[str, Endpoint]:
    def write(request: Request, raw: bytes, action: str, op: Callable[[Call], Outcome]) -> Response:
        before = kind.checks(request, raw, action)
        scope = kind.delete_scope if action == "delete" else kind.write
        return run_write(request, scope, op, before, resource=kind.name)

    async def create_grouped(request: Request, raw: bytes) -> Response:
        before = kind.checks(request, raw, "create")
        op: Callable[[Call], Outcome] = lambda call: kind.create(call, parse_json(raw))  # noqa: E731
        return await run_write_grouped(request, kind.write, op, before, resource=kind.name)

    def _grouped(request: Request, raw: bytes) -> Any:
        # A password is hashed (argon2, tens of ms) inside the create: in a shared
        # transaction it would delay every create of the batch, so those run alone (one
        # spelled with JSON escapes is still hashed right, it only shares a batch).
        return None if b"password" in raw.lower() else create_grouped

    @partial(scim_endpoint, grouped=_grouped)
    def create(request: Request, raw: bytes) -> Response:
        return write(request, raw, "create", lambda call: kind.create(call, parse_json(raw)))

    @partial(scim_endpoint, inline=_user_read_on_sqlite if kind.name == "User" else None)
    def get(request: Request, raw: bytes) -> Response:
        authenticate(request, kind.read)
        return read(request, kind, request.path_params["id"])

    @scim_endpoint
    def replace(request: Request, raw: bytes) -> Response:
        rid = request.path_params["id"]
        return write(request, raw, "put", lambda call: kind.replace(call, rid, parse_json(raw)))

    @scim_endpoint
    def patch(request: Request, raw: bytes) -> Response:
        rid = request.path_params["id"]

        def op(call: Call) -> Outcome:
            outcome = kind.patch(call, rid, parse_json(raw))
            if outcome.body is None and asked(request):
                # Section 3.5.2: a PATCH that asks for attributes MUST answer 200 with them.
                return _current(request, kind, call, rid)
            return outcome

        return write(request, raw, "patch", op)

    @scim_endpoint
    def delete(request: Request, raw: bytes) -> Response:
        rid = request.path_params["id"]
        return write(request, raw, "delete", lambda call: kind.delete(call, rid))

    return {"create": create, "get": get, "put": replace, "patch": patch, "delete": delete}


USERS = _handlers(USER)
GROUPS = _handlers(GROUP)
