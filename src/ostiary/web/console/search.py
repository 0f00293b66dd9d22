"""SCIM filter search for the console's user and group lists: the same parser, binder
and SQL translator as GET /scim/v2/Users?filter=... (docs/scim-search.md)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.scim.errors import ScimError
from ostiary.scim.filter import bind
from ostiary.scim.filter_schema import ResourceSchema
from ostiary.store.repositories.scim_search import Query, ScimSearch
from ostiary.web.console.guard import Admin, render
from ostiary.web.context import AppContext

PAGE = 50
MAX_FILTER = 2000  # characters of a filter kept from the query string


@dataclass
class Result:
    rows: list[Any] = field(default_factory=list)
    total: int = 0
    error: str | None = None


def search(ctx: AppContext, schema: ResourceSchema, text: str) -> Result:
    """One page of rows for a filter (empty: everything); a bad filter is a message."""
    try:
        node = bind(text, schema) if text.strip() else None
        with ctx.db.read() as conn:
            page = ScimSearch(conn, schema.name).run(Query(filter=node, count=PAGE))
    except ScimError as exc:
        return Result(error=exc.detail)
    return Result(list(page.rows), page.total)


def list_page(
    request: Request,
    admin: Admin,
    schema: ResourceSchema,
    to_record: Callable[[Any], Any],
    name: str,
) -> Response:
    """A searched list page: ``name``.html with one page of records as ``name``; a filter
    that cannot be parsed or mapped is a 400 page that shows why."""
    ctx: AppContext = request.app.state.ctx
    text = request.query_params.get("filter", "")[:MAX_FILTER]
    result = search(ctx, schema, text)
    records = [to_record(r) for r in result.rows]
    status = 400 if result.error else 200
    return render(
        request, admin, f"{name}.html", status, result=result, filter=text, **{name: records}
    )
