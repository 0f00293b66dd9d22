"""``attributes`` / ``excludedAttributes`` on responses that return one resource
(RFC 7644 section 3.9), with the same projection the list endpoints use."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request

from ostiary.scim.filter_schema import ResourceSchema
from ostiary.scim.projection import parse_list, project, wants


def requested(request: Request) -> tuple[list[str] | None, list[str] | None]:
    # Parameter names are case-insensitive (RFC 7644 section 3.4.2).
    query = {k.lower(): v for k, v in request.query_params.items()}
    return parse_list(query.get("attributes")), parse_list(query.get("excludedattributes"))


def wants_attribute(request: Request, schema: ResourceSchema, name: str) -> bool:
    """Whether to load ``name`` at all (a group's members may be 100,000 rows)."""
    return wants(schema, name, *requested(request))


def projected(request: Request, doc: dict[str, Any], schema: ResourceSchema) -> dict[str, Any]:
    attributes, excluded = requested(request)
    if not attributes and not excluded:
        return doc
    return project(doc, schema, attributes, excluded)
