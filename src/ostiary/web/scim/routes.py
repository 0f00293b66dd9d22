"""The SCIM route table. Full paths (not a Mount) so metrics label the whole template."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.scim.errors import NotFound
from ostiary.web.scim import bulk, discovery, me, search
from ostiary.web.scim.resources import GROUPS, USERS
from ostiary.web.scim.responses import scim_error

BASE = "/scim/v2"
ANY = ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def no_such_endpoint(request: Request) -> Response:
    return scim_error(NotFound(f"no SCIM endpoint at {request.url.path}"))


routes = [
    # Listing and search (RFC 7644 sections 3.4.2, 3.4.3), before the /{id} routes.
    Route(f"{BASE}/Users", search.list_users, methods=["GET"]),
    Route(f"{BASE}/Users/.search", search.search_users, methods=["POST"]),
    Route(f"{BASE}/Groups", search.list_groups, methods=["GET"]),
    Route(f"{BASE}/Groups/.search", search.search_groups, methods=["POST"]),
    Route(f"{BASE}/.search", search.search_root, methods=["POST"]),
    Route(f"{BASE}/Users", USERS["create"], methods=["POST"]),
    Route(f"{BASE}/Users/{{id}}", USERS["get"], methods=["GET"]),
    Route(f"{BASE}/Users/{{id}}", USERS["put"], methods=["PUT"]),
    Route(f"{BASE}/Users/{{id}}", USERS["patch"], methods=["PATCH"]),
    Route(f"{BASE}/Users/{{id}}", USERS["delete"], methods=["DELETE"]),
    Route(f"{BASE}/Groups", GROUPS["create"], methods=["POST"]),
    Route(f"{BASE}/Groups/{{id}}", GROUPS["get"], methods=["GET"]),
    Route(f"{BASE}/Groups/{{id}}", GROUPS["put"], methods=["PUT"]),
    Route(f"{BASE}/Groups/{{id}}", GROUPS["patch"], methods=["PATCH"]),
    Route(f"{BASE}/Groups/{{id}}", GROUPS["delete"], methods=["DELETE"]),
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
