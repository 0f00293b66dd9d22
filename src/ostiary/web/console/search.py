"""SCIM filter search for the console's user and group lists: the same parser, binder
and SQL translator as GET /scim/v2/Users?filter=... (docs/scim-search.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ostiary.scim.errors import ScimError
from ostiary.scim.filter import bind
from ostiary.scim.filter_schema import ResourceSchema
from ostiary.store.repositories.scim_search import Query, ScimSearch
from ostiary.web.context import AppContext

PAGE = 50


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
