"""``attributes`` / ``excludedAttributes`` on responses that return one resource
(RFC 7644 section 3.9), with the same projection the list endpoints use."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ostiary.scim.projection import parse_list, project, wants
from ostiary.scim.registry import ResourceSchema


def requested(request: Request) -> tuple[list[str] | None, list[str] | None]:
    if not request.scope.get("query_string"):  # most writes: no parameters to parse
        return None, None
    # Parameter names are case-insensitive (RFC 7644 section 3.4.2).
    query = {k.lower(): v for k, v in request.query_params.items()}
    return parse_list(query.get("attributes")), parse_list(query.get("excludedattributes"))


def wants_attribute(request: Request, schema: ResourceSchema, name: str) -> bool:
    """Whether to load ``name`` at all (a group's members may be 100,000 rows)."""
    return wants(schema, name, *requested(request))


def asked(request: Request) -> bool:
    """Whether the request names a representation (section 3.5.2: a PATCH that would
    answer 204 MUST answer 200 with the resource when ``attributes`` is given)."""
    return any(requested(request))


def projected(request: Request, doc: dict[str, Any], schema: ResourceSchema) -> dict[str, Any]:
    # Always projected: returned "never"/"request" attributes (a custom extension may
    # declare them) leave a response even when the client named nothing.
    return project(doc, schema, *requested(request))
