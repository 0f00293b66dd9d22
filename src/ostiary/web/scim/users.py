"""/scim/v2/Users endpoints."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.audit.events import AuditEvent
from ostiary.core.ids import new_id
from ostiary.directory.errors import UniquenessConflict
from ostiary.directory.passwords import hash_password
from ostiary.keys import scopes
from ostiary.scim import errors
from ostiary.scim.users import etag, parse_user, render_user
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.users import UserRepository
from ostiary.web.audit import key_actor, request_info
from ostiary.web.context import AppContext
from ostiary.web.scim.auth import authenticate, check_attributes
from ostiary.web.scim.endpoint import parse_json, scim_endpoint
from ostiary.web.scim.responses import scim_json


@scim_endpoint
def create_user(request: Request, raw: bytes) -> Response:
    ctx: AppContext = request.app.state.ctx
    principal = authenticate(request, scopes.USERS_WRITE)
    body = parse_json(raw)
    check_attributes(request, principal, "User", body)
    now = ctx.clock.now()
    user = parse_user(body, user_id=new_id(), hash_password=hash_password, now=now)
    doc = render_user(user, ctx.scim_base)
    event = AuditEvent(
        action="scim.user.create",
        actor=key_actor(principal),
        target_type="User",
        target_id=user.id,
        request=request_info(request),
        after=doc,
    )
    try:
        with ctx.db.begin() as conn:
            UserRepository(conn).add(user)
            AuditLog(conn).append(event, now)
    except UniquenessConflict as exc:
        raise errors.Uniqueness(str(exc)) from None
    headers = {"Location": doc["meta"]["location"], "ETag": etag(user.version)}
    return scim_json(doc, 201, headers)


@scim_endpoint
def get_user(request: Request, raw: bytes) -> Response:
    ctx: AppContext = request.app.state.ctx
    authenticate(request, scopes.USERS_READ)
    user_id = request.path_params["id"]
    with ctx.db.read() as conn:
        user = UserRepository(conn).get(user_id)
    if user is None:
        raise errors.NotFound(f"no User with id {user_id}")
    return scim_json(render_user(user, ctx.scim_base), headers={"ETag": etag(user.version)})
