"""The SCIM route table. Full paths (not a Mount) so metrics label the whole template."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.scim.errors import NotFound
from ostiary.web.scim import search, users
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
    Route(f"{BASE}/Users", users.create_user, methods=["POST"]),
    Route(f"{BASE}/Users/{{id}}", users.get_user, methods=["GET"]),
    # Last: anything else under the base is a SCIM 404, not the admin app's.
    Route(f"{BASE}/{{rest:path}}", no_such_endpoint, methods=ANY),
]
