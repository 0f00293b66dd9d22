"""/scim/v2/Users/{id} endpoints and POST /Users (listing and search belong to search.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.keys import scopes
from ostiary.keys.models import KeyPrincipal
from ostiary.scim import errors
from ostiary.scim.filter_schema import USER as USER_SCHEMA
from ostiary.scim.users import etag, render_user
from ostiary.store.repositories.groups import GroupRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.context import AppContext
from ostiary.web.scim import guards, user_ops
from ostiary.web.scim.auth import authenticate, check_attributes
from ostiary.web.scim.call import none_match
from ostiary.web.scim.endpoint import parse_json, scim_endpoint
from ostiary.web.scim.projecting import projected
from ostiary.web.scim.responses import scim_json
from ostiary.web.scim.writes import Before, run_write


def _checks(request: Request, raw: bytes, kind: str) -> Before:
    """Attribute restrictions, then the deprovisioning-burst guard for a deactivation."""

    def before(principal: KeyPrincipal) -> Response | None:
        body = parse_json(raw)
        check_attributes(request, principal, "User", body, patch=kind == "patch")
        count = guards.deactivations("PATCH" if kind == "patch" else "PUT", body)
        if kind == "create":
            return None
        op = guards.operation(principal, request, kind, id=request.path_params["id"], body=body)
        return guards.hold(request, principal, count, op)

    return before


@scim_endpoint
def create_user(request: Request, raw: bytes) -> Response:
    return run_write(
        request,
        scopes.USERS_WRITE,
        lambda call: user_ops.create_user(call, parse_json(raw)),
        _checks(request, raw, "create"),
    )


@scim_endpoint
def get_user(request: Request, raw: bytes) -> Response:
    authenticate(request, scopes.USERS_READ)
    return read_user(request, request.path_params["id"])


def read_user(
    request: Request,
    user_id: str,
    *,
    missing: Callable[[str], errors.ScimError] | None = None,
    shape: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    """GET one user (RFC 7644 3.4.1) with If-None-Match (3.14) and attributes/
    excludedAttributes (3.9). /Me passes ``missing`` (an inactive user is a 401 there),
    ``shape`` (what the token's scopes allow) and a Content-Location header."""
    ctx: AppContext = request.app.state.ctx
    with ctx.db.read() as conn:
        user = UserRepository(conn).get(user_id)
        if user is None or (missing is not None and not user.active):
            raise (missing or _no_user)(user_id)
        if none_match(request.headers.get("if-none-match"), user.version):
            return Response(status_code=304, headers={"ETag": etag(user.version)})
        groups = [
            {
                "value": gid,
                "$ref": f"{ctx.scim_base}/Groups/{gid}",
                "display": name,
                "type": "direct",
            }
            for gid, name in GroupRepository(conn).groups_of(user.id)
        ]
    doc = render_user(user, ctx.scim_base, groups)
    doc = projected(request, shape(doc) if shape else doc, USER_SCHEMA)
    return scim_json(doc, headers={"ETag": etag(user.version), **(headers or {})})


def _no_user(user_id: str) -> errors.ScimError:
    return errors.NotFound(f"no User with id {user_id}")


@scim_endpoint
def replace_user(request: Request, raw: bytes) -> Response:
    user_id = request.path_params["id"]
    return run_write(
        request,
        scopes.USERS_WRITE,
        lambda call: user_ops.replace_user(call, user_id, parse_json(raw)),
        _checks(request, raw, "put"),
    )


@scim_endpoint
def patch_user(request: Request, raw: bytes) -> Response:
    user_id = request.path_params["id"]
    return run_write(
        request,
        scopes.USERS_WRITE,
        lambda call: user_ops.patch_user(call, user_id, parse_json(raw)),
        _checks(request, raw, "patch"),
    )


@scim_endpoint
def delete_user(request: Request, raw: bytes) -> Response:
    user_id = request.path_params["id"]

    def before(principal: KeyPrincipal) -> Response | None:
        op = guards.operation(principal, request, "delete", id=user_id)
        return guards.hold(request, principal, 1, op)

    # Deleting is deprovisioning: users:deprovision alone suffices (an HR kill-switch key).
    return run_write(
        request, scopes.USERS_DEPROVISION, lambda call: user_ops.delete_user(call, user_id), before
    )
