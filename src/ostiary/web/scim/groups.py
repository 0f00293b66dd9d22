"""/scim/v2/Groups/{id} endpoints and POST /Groups (listing and search belong to search.py)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.keys import scopes
from ostiary.keys.models import KeyPrincipal
from ostiary.scim import errors
from ostiary.scim.groups import render_group
from ostiary.scim.users import etag
from ostiary.store.repositories.groups import GroupRepository
from ostiary.web.context import AppContext
from ostiary.web.scim import group_ops
from ostiary.web.scim.auth import authenticate, check_attributes
from ostiary.web.scim.call import none_match
from ostiary.web.scim.endpoint import parse_json, scim_endpoint
from ostiary.web.scim.responses import scim_json
from ostiary.web.scim.writes import Before, run_write


def _skip_members(request: Request) -> bool:
    """Entra reads groups with excludedAttributes=members; do not even load them then."""
    excluded = request.query_params.get("excludedAttributes") or ""
    names = {a.strip().lower().rsplit(":", 1)[-1] for a in excluded.split(",")}
    return "members" in names


def _checks(request: Request, raw: bytes, patch: bool = False) -> Before:
    def before(principal: KeyPrincipal) -> Response | None:
        check_attributes(request, principal, "Group", parse_json(raw), patch=patch)
        return None

    return before


@scim_endpoint
def create_group(request: Request, raw: bytes) -> Response:
    return run_write(request, scopes.GROUPS_WRITE,
                     lambda call: group_ops.create_group(call, parse_json(raw)),
                     _checks(request, raw))


@scim_endpoint
def get_group(request: Request, raw: bytes) -> Response:
    ctx: AppContext = request.app.state.ctx
    authenticate(request, scopes.GROUPS_READ)
    group_id = request.path_params["id"]
    with ctx.db.read() as conn:
        repo = GroupRepository(conn)
        group = repo.get(group_id)
        if group is None:
            raise errors.NotFound(f"no Group with id {group_id}")
        if none_match(request.headers.get("if-none-match"), group.version):
            return Response(status_code=304, headers={"ETag": etag(group.version)})
        members = None if _skip_members(request) else repo.members(group.id)
    doc = render_group(group, ctx.scim_base, members)
    return scim_json(doc, headers={"ETag": etag(group.version)})


@scim_endpoint
def replace_group(request: Request, raw: bytes) -> Response:
    group_id = request.path_params["id"]
    return run_write(request, scopes.GROUPS_WRITE,
                     lambda call: group_ops.replace_group(call, group_id, parse_json(raw)),
                     _checks(request, raw))


@scim_endpoint
def patch_group(request: Request, raw: bytes) -> Response:
    group_id = request.path_params["id"]
    return run_write(request, scopes.GROUPS_WRITE,
                     lambda call: group_ops.patch_group(call, group_id, parse_json(raw)),
                     _checks(request, raw, patch=True))


@scim_endpoint
def delete_group(request: Request, raw: bytes) -> Response:
    group_id = request.path_params["id"]
    return run_write(request, scopes.GROUPS_WRITE,
                     lambda call: group_ops.delete_group(call, group_id))
