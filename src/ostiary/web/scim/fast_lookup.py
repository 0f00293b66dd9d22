"""``GET /scim/v2/Users?filter=<attr> eq "<value>"`` (and no other parameter) without the
router: the lookup provisioning clients send before nearly every write.

A pure-ASGI layer placed just inside :class:`~ostiary.web.middleware.RequestContextMiddleware`
(so the request id, metrics under the route template ``/scim/v2/Users`` and the access
line are the same) and inside Starlette's ``ServerErrorMiddleware`` (so an unexpected
error is still the SCIM 500 of ``web.errors``). Anything else passes through untouched.

It skips Starlette's exception middleware, the route table walk, the endpoint wrapper and
``QueryParams``; it does not skip a check: :func:`~ostiary.web.scim.auth.authenticate`
runs as for every SCIM request (IP and key rate limits, locks, verification, DPoP, CIDR,
last use, anomalies, scope), errors are the endpoint's SCIM errors, and the answer is
the one ``list_users`` gives (``tests/web/test_scim_lookup_fast.py`` compares them). The
database work is one statement on a raw connection (``store.repositories.scim_lookup``);
it runs on the event loop on SQLite, where it is an in-process index lookup cheaper than
a thread hand-off, and on a worker thread on PostgreSQL, where it waits on the network.
"""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.keys import scopes
from ostiary.scim.errors import ScimError
from ostiary.scim.filter import bind, is_simple_eq
from ostiary.scim.filter_schema import USER
from ostiary.scim.projection import project
from ostiary.store.repositories.scim_lookup import lookup_users
from ostiary.web.context import AppContext
from ostiary.web.scim.auth import authenticate
from ostiary.web.scim.call import search_schema
from ostiary.web.scim.responses import scim_error
from ostiary.web.scim.search import (
    Params,
    _count,
    _list_response,
    _run,
    render_user_groups,
)

PATH = "/scim/v2/Users"


def _filter_only(query: bytes) -> str | None:
    """The filter when it is the only query parameter, decoded as Starlette's
    ``parse_qsl`` decodes it ('&' is the only separator: '+' is a space, then %-escapes
    as UTF-8 with replacement)."""
    if not query.startswith(b"filter=") or b"&" in query:
        return None
    raw = query[7:].replace(b"+", b" ")
    if raw.isascii():  # what unquote does with one ASCII run, without its str splitting
        return unquote_to_bytes(raw).decode("utf-8", "replace")
    return unquote(raw.decode("latin-1"))


def answer(ctx: AppContext, request: Request, text: str) -> Response:
    """What ``list_users`` answers for ``?filter=<text>``."""
    try:
        authenticate(request, scopes.USERS_READ)
        return lookup_response(ctx, text)
    except ScimError as exc:
        return scim_error(exc, getattr(exc, "headers", None))


def lookup_response(ctx: AppContext, text: str) -> Response:
    """The ListResponse for ``filter=<text>`` once the caller is authenticated (the
    server time ``bench scim_lookup`` measures)."""
    schema = search_schema(ctx, USER.name)
    p = Params(filter=text)
    found = lookup_users(ctx.db.lookups, bind(text, schema), _count(ctx, p))
    if found is None:  # a full page or no free connection: the general search
        page, docs = _run(ctx, USER, p)
        return _list_response(p, page.total, docs, None)
    base = ctx.scim_base
    docs = [project(render_user_groups(base, u, m), schema) for u, m in found]
    return _list_response(p, len(docs), docs, None)


_THREADS: list[ThreadPoolExecutor] = []


def _threads() -> ThreadPoolExecutor:
    """One pool per process, made on first use (SQLite never needs it): as many threads
    as a database pool has connections by default, since each lookup holds one."""
    if not _THREADS:
        _THREADS.append(ThreadPoolExecutor(10, thread_name_prefix="scim-eq"))
    return _THREADS[0]


class ScimLookupFastPath:
    def __init__(self, app: Any, ctx: AppContext, routes: list[Any]) -> None:
        self.app = app
        self.ctx = ctx
        self.inline = ctx.db.dialect == "sqlite"
        # The route the router would have matched: the metrics label its template.
        self.route = next(
            r
            for r in routes
            if isinstance(r, Route) and r.path == PATH and "GET" in (r.methods or ())
        )

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        text = None
        if scope["type"] == "http" and scope["path"] == PATH and scope["method"] == "GET":
            text = _filter_only(scope["query_string"])
        if text is None or not is_simple_eq(text):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        request = Request(scope, receive)
        if self.inline:
            response = answer(self.ctx, request, text)
        else:
            # The executor directly, in a copy of the context (the request id for logs):
            # anyio's to_thread (run_in_threadpool) spends on a capacity limiter and
            # cancel scopes about as many instructions as the whole SQLite lookup.
            loop = asyncio.get_running_loop()
            run = contextvars.copy_context().run
            response = await loop.run_in_executor(_threads(), run, answer, self.ctx, request, text)
        await response(scope, receive, send)
