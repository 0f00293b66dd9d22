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
a thread hand-off. On PostgreSQL a thread hand-off per request cost more server CPU than
the lookup itself, so when authentication needs no I/O (``auth_is_local``) it runs on
the loop and the statement on an async connection; otherwise, or with no free async
connection, the request runs on a worker thread (the general search as the last resort).
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

from ostiary.keys import format as key_format
from ostiary.keys import scopes
from ostiary.keys.errors import InvalidKey
from ostiary.keys.models import KeyStatus
from ostiary.keys.ratelimit import MemoryLimiter
from ostiary.keys.restrictions import ip_allowed
from ostiary.keys.verify import parse_bearer
from ostiary.scim.errors import ScimError
from ostiary.scim.filter import bind, is_simple_eq
from ostiary.scim.filter_schema import USER
from ostiary.scim.projection import project
from ostiary.store.repositories.scim_lookup import lookup_users, lookup_users_async
from ostiary.web.context import AppContext
from ostiary.web.oauth import resource as oauth_resource
from ostiary.web.scim.auth import authenticate, client_ip
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


def _lookup_args(ctx: AppContext, text: str) -> tuple[Any, Any, Params]:
    schema = search_schema(ctx, USER.name)
    p = Params(filter=text)
    return schema, bind(text, schema), p


def _found_response(
    ctx: AppContext, schema: Any, p: Params, found: list[tuple[Any, Any]]
) -> Response:
    base = ctx.scim_base
    docs = [project(render_user_groups(base, u, m), schema) for u, m in found]
    return _list_response(p, len(docs), docs, None)


def lookup_response(ctx: AppContext, text: str) -> Response:
    """The ListResponse for ``filter=<text>`` once the caller is authenticated (the
    server time ``bench scim_lookup`` measures)."""
    schema, node, p = _lookup_args(ctx, text)
    found = lookup_users(ctx.db.lookups, node, _count(ctx, p))
    if found is None:  # a full page or no free connection: the general search
        page, docs = _run(ctx, USER, p)
        return _list_response(p, page.total, docs, None)
    return _found_response(ctx, schema, p, found)


def auth_is_local(request: Request) -> bool:
    """Whether ``authenticate`` for users:read can be answered from memory alone, so it
    may run on the event loop: no Redis limiter, a raw key (not an OAuth token) whose
    record is fresh in the cache, active, holding the scope, usable from this address
    and not DPoP-bound. Anything else (a cold cache reads the database; a refusal for
    address or scope is audited) takes the thread path."""
    ctx: AppContext = request.app.state.ctx
    rt = ctx.key_runtime
    header = request.headers.get("authorization")
    if type(rt.limiter) is not MemoryLimiter or oauth_resource.is_oauth_token(header):
        return False
    try:
        token = parse_bearer(header)
    except InvalidKey:
        return False  # missing or malformed: refused with no I/O, but keep it simple
    # The id part, unchecked (verify checks the checksum; a bad one is not audited).
    start = len(key_format.PREFIX)
    record = rt.cache.peek(token[start : start + key_format.ID_LEN])
    return (
        record is not None
        and record.status is KeyStatus.ACTIVE
        and scopes.USERS_READ in record.scopes
        and not record.binding.require_dpop
        and ip_allowed(record.binding.allowed_cidrs, client_ip(request))
    )


async def answer_on_loop(ctx: AppContext, request: Request, text: str) -> Response:
    """``answer`` for PostgreSQL without a thread when it cannot block: authentication
    from memory, the statement on an async connection. Otherwise (or with no free async
    connection, or any error there) the rest runs on the worker thread as before."""
    run = contextvars.copy_context().run
    loop = asyncio.get_running_loop()
    if not auth_is_local(request):
        return await loop.run_in_executor(_threads(), run, answer, ctx, request, text)
    try:
        authenticate(request, scopes.USERS_READ)
        schema, node, p = _lookup_args(ctx, text)
    except ScimError as exc:
        return scim_error(exc, getattr(exc, "headers", None))
    found = await lookup_users_async(ctx.db.lookups, node, _count(ctx, p))
    if found is not None:
        return _found_response(ctx, schema, p, found)
    return await loop.run_in_executor(_threads(), run, lookup_response, ctx, text)


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
            response = await answer_on_loop(self.ctx, request, text)
        await response(scope, receive, send)
