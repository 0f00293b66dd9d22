"""Listing and searching: GET /Users, GET /Groups, POST /Users/.search, /Groups/.search
and the root /.search (RFC 7644 sections 3.4.2 and 3.4.3), plus cursor paging (RFC 9865).

The filter is bound in the domain (``ostiary.scim.filter``), translated to SQL in the store
and evaluated by the database; the page is rendered and projected here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from scim2_models.path import AttrPath, Comparison, FilterNode, LogicalExpr, Not, Present, ValuePath
from starlette.requests import Request
from starlette.responses import Response

from ostiary.directory.models import Member, User
from ostiary.keys import scopes
from ostiary.scim import schemas
from ostiary.scim.errors import InvalidSyntax, InvalidValue
from ostiary.scim.filter import (
    Ref,
    UnknownAttribute,
    bind,
    is_simple_eq,
    parse,
    resolve_top,
    sort_ref,
)
from ostiary.scim.filter_schema import GROUP, USER, ResourceSchema
from ostiary.scim.groups import render_group
from ostiary.scim.projection import parse_list, projector, wants
from ostiary.scim.users import render_user
from ostiary.store.repositories.groups import row_to_group
from ostiary.store.repositories.scim_search import Page, Query, ScimSearch, groups_of, members_of
from ostiary.store.repositories.users import row_to_user
from ostiary.web.context import AppContext
from ostiary.web.scim.auth import authenticate
from ostiary.web.scim.call import search_schema
from ostiary.web.scim.endpoint import parse_json, scim_endpoint
from ostiary.web.scim.responses import scim_json
from ostiary.web.scim.slim_list import SLIM_COLUMNS, render_slim_user, slim_keys

SCOPE = {"User": scopes.USERS_READ, "Group": scopes.GROUPS_READ}


@dataclass
class Params:
    """A search, from query parameters or a SearchRequest body, already validated."""

    filter: str | None = None
    sort_by: str | None = None
    descending: bool = False
    start_index: int = 1
    count: int | None = None
    cursor: str | None = None
    attributes: list[str] | None = None
    excluded: list[str] | None = None


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise InvalidValue(f"{name} must be an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    raise InvalidValue(f"{name} must be an integer")


def _str(value: Any, name: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidValue(f"{name} must be a string")
    return value if value.strip() else None


def _params(source: Mapping[str, Any]) -> Params:
    """Parameter names are matched case-insensitively (RFC 7644 section 3.4.2)."""
    get = {k.lower(): v for k, v in source.items()}.get
    for name in ("attributes", "excludedattributes"):
        value = get(name)
        if value is not None and not isinstance(value, str | list):
            raise InvalidValue(f"{name} must be a list of attribute names")
    order = (_str(get("sortorder"), "sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValue("sortOrder must be 'ascending' or 'descending'")
    p = Params(
        filter=_str(get("filter"), "filter"),
        sort_by=_str(get("sortby"), "sortBy"),
        descending=order == "descending",
        attributes=parse_list(get("attributes")),
        excluded=parse_list(get("excludedattributes")),
    )
    if get("startindex") is not None:
        # Section 3.4.2.4: a startIndex below 1 is read as 1, a negative count as 0.
        p.start_index = max(1, _int(get("startindex"), "startIndex"))
    if get("count") is not None:
        p.count = max(0, _int(get("count"), "count"))
    cursor = get("cursor")
    if cursor is not None:
        if not isinstance(cursor, str):
            raise InvalidValue("cursor must be a string")
        if get("startindex") is not None:
            raise InvalidValue("use either cursor or startIndex paging, not both")
        p.cursor = cursor
    return p


def _search_body(raw: bytes) -> Params:
    body = parse_json(raw)
    if not isinstance(body, dict):
        raise InvalidSyntax("the body must be a SearchRequest object")
    declared = body.get("schemas")
    if not isinstance(declared, list) or schemas.SEARCH_REQUEST not in declared:
        raise InvalidValue(f"schemas must include {schemas.SEARCH_REQUEST}")
    return _params({k: v for k, v in body.items() if k != "schemas"})


def _count(ctx: AppContext, p: Params) -> int:
    settings = ctx.settings
    if p.count is None:
        return min(settings.scim_default_count, settings.scim_max_results)
    return min(p.count, settings.scim_max_results)


def _run(
    ctx: AppContext, schema: ResourceSchema, p: Params, *, root: bool = False
) -> tuple[Page, list[dict[str, Any]]]:
    schema = search_schema(ctx, schema.name)  # with the configured extensions
    node = bind(p.filter, schema, unknown_is_false=root) if p.filter else None
    sort = _sort(schema, p.sort_by, root) if p.sort_by else None
    keys = slim_keys(schema, p.attributes, p.excluded) if node is None else None
    columns = SLIM_COLUMNS if keys is not None else None
    query = Query(node, sort, p.descending, p.start_index, _count(ctx, p), p.cursor, columns)
    with ctx.db.read() as conn:
        page = ScimSearch(conn, schema.name).run(query)
        ids = [r.id for r in page.rows]
        user = schema.name == "User"
        load = wants(schema, "groups" if user else "members", p.attributes, p.excluded)
        extra = (groups_of if user else members_of)(conn, ids) if load else {}
    if keys is not None:
        docs = [render_slim_user(ctx.scim_base, r, keys) for r in page.rows]
        return page, docs
    render = render_user_row if user else render_group_row
    if not page.rows:  # names are resolved (and refused) only where there is a resource
        return page, []
    shape = projector(schema, p.attributes, p.excluded)  # names resolved once per page
    return page, [shape(render(ctx.scim_base, r, extra.get(r.id))) for r in page.rows]


def _sort(schema: ResourceSchema, sort_by: str, root: bool) -> Ref | None:
    try:
        return sort_ref(schema, sort_by)
    except InvalidValue:
        if root:
            return None  # a root search sorts the types that have the attribute
        raise


def render_user_row(
    base: str, row: Any, memberships: list[tuple[str, str]] | None
) -> dict[str, Any]:
    return render_user_groups(base, row_to_user(row), memberships)


def render_user_groups(
    base: str, user: User, memberships: list[tuple[str, str]] | None
) -> dict[str, Any]:
    """A User's SCIM JSON with its direct memberships as ``groups``."""
    doc = render_user(user, base)
    if memberships:
        doc["groups"] = [
            {
                "value": gid,
                "display": name,
                "$ref": f"{base}/Groups/{gid}",
                "type": "direct",
            }
            for gid, name in memberships
        ]
    return doc


def render_group_row(base: str, row: Any, members: list[tuple[str, str]] | None) -> dict[str, Any]:
    listed = [Member(id=mid, type=mtype) for mid, mtype in members] if members else None
    return render_group(row_to_group(row), base, listed)


def _list_response(
    p: Params, total: int, docs: list[dict[str, Any]], cursor: str | None
) -> Response:
    body: dict[str, Any] = {"schemas": [schemas.LIST_RESPONSE], "totalResults": total}
    if p.cursor is None:
        body["startIndex"] = p.start_index
    body["itemsPerPage"] = len(docs)
    body["Resources"] = docs
    if cursor is not None:
        body["nextCursor"] = cursor
    return scim_json(body)


def _search(request: Request, schema: ResourceSchema, p: Params) -> Response:
    ctx: AppContext = request.app.state.ctx
    authenticate(request, SCOPE[schema.name])
    page, docs = _run(ctx, schema, p)
    return _list_response(p, page.total, docs, page.next_cursor)


def _quick_lookup(request: Request) -> bool:
    """``?filter=attr eq "value"`` and nothing else, on SQLite: a single indexed lookup in
    this process (a prepared statement), cheaper to run on the event loop than to hand to
    a thread. On PostgreSQL the round trips would block the loop, so it keeps the thread."""
    query = request.query_params
    if len(query) != 1 or request.app.state.ctx.db.dialect != "sqlite":
        return False
    text = query.get("filter")
    return text is not None and is_simple_eq(text)


@partial(scim_endpoint, inline=_quick_lookup)
def list_users(request: Request, raw: bytes) -> Response:
    return _search(request, USER, _params(request.query_params))


@scim_endpoint
def list_groups(request: Request, raw: bytes) -> Response:
    return _search(request, GROUP, _params(request.query_params))


@scim_endpoint
def search_users(request: Request, raw: bytes) -> Response:
    return _search(request, USER, _search_body(raw))


@scim_endpoint
def search_groups(request: Request, raw: bytes) -> Response:
    return _search(request, GROUP, _search_body(raw))


@scim_endpoint
def search_root(request: Request, raw: bytes) -> Response:
    """POST /.search across Users then Groups (section 3.4.3).

    It needs users:read and groups:read: it returns both. An attribute one resource type
    lacks is false for that type (section 3.4.2.1); one that neither has is a 400.
    """
    ctx: AppContext = request.app.state.ctx
    for scope in SCOPE.values():
        authenticate(request, scope)
    p = _search_body(raw)
    if p.cursor is not None:
        raise InvalidValue("cursor paging is offered per resource type, not at the root")
    if p.filter:
        _check_known_somewhere(ctx, p.filter)
    count = _count(ctx, p)
    totals: list[int] = []
    docs: list[dict[str, Any]] = []
    offset = p.start_index - 1  # an offset into Users followed by Groups
    for schema in (USER, GROUP):
        counted, _ = _run(ctx, schema, Params(**{**p.__dict__, "count": 0}), root=True)
        totals.append(counted.total)
        want = count - len(docs)
        if want > 0 and offset < counted.total:
            sub = Params(**{**p.__dict__, "start_index": offset + 1, "count": want})
            _, part = _run(ctx, schema, sub, root=True)
            docs.extend(part)
        offset = max(0, offset - counted.total)
    return _list_response(p, sum(totals), docs, None)


def _check_known_somewhere(ctx: AppContext, text: str) -> None:
    """A root filter naming an attribute no resource type has is an error, not false."""
    for path in _attr_paths(parse(text)):
        known = False
        for resource in ("User", "Group"):
            try:
                resolve_top(search_schema(ctx, resource), path)
                known = True
            except UnknownAttribute:
                continue
        if not known:
            raise UnknownAttribute(f"no resource type has the attribute {path!s}")


def _attr_paths(node: FilterNode) -> list[AttrPath]:
    if isinstance(node, LogicalExpr):
        return [p for t in node.terms for p in _attr_paths(t)]
    if isinstance(node, Not):
        return _attr_paths(node.expr)
    if isinstance(node, Comparison | Present | ValuePath):
        return [node.attr_path]
    return []
