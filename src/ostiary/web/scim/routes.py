"""The SCIM route table. Full paths (not a Mount) so metrics label the whole template."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.scim.errors import NotFound
from ostiary.web.scim import bulk, discovery, groups, me, users
from ostiary.web.scim.responses import scim_error

BASE = "/scim/v2"
ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def no_such_endpoint(request: Request) -> Response:
    return scim_error(NotFound(f"no SCIM endpoint at {request.url.path}"))


routes = [
    Route(f"{BASE}/Users", users.create_user, methods=["POST"]),
    Route(f"{BASE}/Users/{{id}}", users.get_user, methods=["GET"]),
    Route(f"{BASE}/Users/{{id}}", users.replace_user, methods=["PUT"]),
    Route(f"{BASE}/Users/{{id}}", users.patch_user, methods=["PATCH"]),
    Route(f"{BASE}/Users/{{id}}", users.delete_user, methods=["DELETE"]),
    Route(f"{BASE}/Groups", groups.create_group, methods=["POST"]),
    Route(f"{BASE}/Groups/{{id}}", groups.get_group, methods=["GET"]),
    Route(f"{BASE}/Groups/{{id}}", groups.replace_group, methods=["PUT"]),
    Route(f"{BASE}/Groups/{{id}}", groups.patch_group, methods=["PATCH"]),
    Route(f"{BASE}/Groups/{{id}}", groups.delete_group, methods=["DELETE"]),
    Route(f"{BASE}/Bulk", bulk.bulk, methods=["POST"]),
    Route(f"{BASE}/Me", me.me, methods=ANY),
    Route(f"{BASE}/ServiceProviderConfig", discovery.service_provider_config, methods=ANY),
    Route(f"{BASE}/ResourceTypes", discovery.resource_types, methods=ANY),
    Route(f"{BASE}/ResourceTypes/{{id}}", discovery.resource_type, methods=ANY),
    Route(f"{BASE}/Schemas", discovery.schemas, methods=ANY),
    Route(f"{BASE}/Schemas/{{id:path}}", discovery.schema, methods=ANY),
    # Last: anything else under the base is a SCIM 404, not the admin app's.
    Route(f"{BASE}/{{rest:path}}", no_such_endpoint, methods=ANY),
]
