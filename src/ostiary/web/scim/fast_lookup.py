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
from ostiary.store.repositories.scim_lookup_batch import Found, lookup_batch
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
    return _respond(ctx, p, schema, found)


def _respond(ctx: AppContext, p: Params, schema: Any, found: Found) -> Response:
    if found is None:  # a full page or no free connection: the general search
        page, docs = _run(ctx, USER, p)
        return _list_response(p, page.total, docs, None)
    base = ctx.scim_base
    docs = [project(render_user_groups(base, u, m), schema) for u, m in found]
    return _list_response(p, len(docs), docs, None)


# One waiting lookup: its context (request id for logs), request, filter; then its answer.
Item = tuple[contextvars.Context, Request, str]
Outcome = Response | Exception


def answer_many(ctx: AppContext, items: list[Item]) -> list[Outcome]:
    """What ``answer`` gives for each item, with the database read of all of them done
    together (``lookup_batch``: one statement per attribute). Each item is authenticated,
    bound and rendered in its own context, in arrival order; an unexpected error is that
    item's alone (returned, raised by its own request)."""
    schema = search_schema(ctx, USER.name)
    outcomes: list[Outcome | None] = [None] * len(items)
    nodes: list[Any] = []
    ready: list[int] = []
    for i, (cv, request, text) in enumerate(items):
        node, failed = _attempt(cv, _check, request, text, schema)
        if failed is None:
            nodes.append(node)
            ready.append(i)
        else:
            outcomes[i] = failed
    count = _count(ctx, Params())
    found = lookup_batch(ctx.db.lookups, nodes, count) if nodes else []
    for i, rows in zip(ready, found, strict=True):
        cv, _request, text = items[i]
        answered, failed = _attempt(cv, _respond, ctx, Params(filter=text), schema, rows)
        outcomes[i] = answered if failed is None else failed
    return [o if o is not None else RuntimeError("no answer") for o in outcomes]


def _attempt(cv: contextvars.Context, step: Any, *args: Any) -> tuple[Any, Outcome | None]:
    """Run one item's step in its own context: its value, or its failure (a SCIM error
    rendered, anything else returned to be raised by that item's own request)."""
    try:
        return cv.run(step, *args), None
    except ScimError as exc:
        return None, scim_error(exc, getattr(exc, "headers", None))
    except Exception as exc:
        return None, exc


def _check(request: Request, text: str, schema: Any) -> Any:
    authenticate(request, scopes.USERS_READ)
    return bind(text, schema)


class LookupBatches:
    """Gathers a worker's lookups into batches for the thread (PostgreSQL).

    No timer: a lookup arriving when no batch is running starts one at once (alone, it
    waits for nothing); lookups arriving while one runs wait for it and go together in
    the next. One batch runs at a time: the CPU, not the round trip, limits a worker,
    and a batch costs one thread hand-off, one statement per attribute and one wake-up
    of the loop however many lookups it holds."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.waiting: list[tuple[Item, asyncio.Future[Outcome]]] = []
        self.running = False
        self.batches = 0  # started so far (tests see that lookups gather)

    async def answer(self, request: Request, text: str) -> Response:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self.waiting.append(((contextvars.copy_context(), request, text), future))
        if not self.running:
            self._start(loop)
        outcome = await future
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self.waiting = self.waiting, []
        self.running = True
        self.batches += 1
        items = [item for item, _ in batch]
        done = loop.run_in_executor(_threads(), answer_many, self.ctx, items)
        done.add_done_callback(lambda d: self._finish(loop, batch, d))

    def _finish(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[tuple[Item, asyncio.Future[Outcome]]],
        done: asyncio.Future[list[Outcome]],
    ) -> None:
        self.running = False
        error = done.exception()
        outcomes: list[Outcome] = (
            done.result() if error is None else [_as_exception(error)] * len(batch)
        )
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if not future.done():  # its request may have been cancelled
                future.set_result(outcome)
        if self.waiting:
            self._start(loop)


def _as_exception(error: BaseException) -> Exception:
    return error if isinstance(error, Exception) else RuntimeError(repr(error))


_THREADS: list[ThreadPoolExecutor] = []


def _threads() -> ThreadPoolExecutor:
    """One thread per process, made on first use (SQLite never needs it): one batch runs
    at a time (``LookupBatches``)."""
    if not _THREADS:
        _THREADS.append(ThreadPoolExecutor(1, thread_name_prefix="scim-eq"))
    return _THREADS[0]


class ScimLookupFastPath:
    def __init__(
        self, app: Any, ctx: AppContext, routes: list[Any], batches: LookupBatches
    ) -> None:
        self.app = app
        self.ctx = ctx
        self.inline = ctx.db.dialect == "sqlite"
        self.batches = batches
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
            # The executor directly (anyio's to_thread spends on a capacity limiter and
            # cancel scopes about as many instructions as the whole SQLite lookup), for a
            # batch of the lookups in flight rather than each.
            response = await self.batches.answer(request, text)
        await response(scope, receive, send)
