"""The shape every SCIM endpoint shares.

The handler is plain synchronous code (database, argon2): it runs on a worker thread so it
never blocks the event loop, after the body has been read asynchronously. SCIM errors
become SCIM error responses here, so nothing a client sends turns into a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ostiary.scim.errors import InvalidSyntax, PayloadTooLarge, ScimError
from ostiary.web.scim.responses import scim_error

Handler = Callable[[Request, Any], Response]
# The handler's group-commit form for this request, or None to run it alone.
GroupedHandler = Callable[[Request, bytes], Callable[[Request, bytes], Awaitable[Response]] | None]
MAX_BODY = 4 * 1024 * 1024


def parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidSyntax("the request body is not valid JSON") from None


def scim_endpoint(
    handler: Handler,
    inline: Callable[[Request], bool] | None = None,
    grouped: GroupedHandler | None = None,
) -> Callable[[Request], Awaitable[Response]]:
    """``inline``: requests for which the handler runs on the event loop itself, because
    its database work is known to be an index lookup in-process (the thread hand-off
    would cost more than the work; see docs/performance.md). ``grouped``: the handler's
    group-commit form for this request, or None (see :mod:`ostiary.web.scim.batch`)."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            raw = b""
            if request.method in {"POST", "PUT", "PATCH"}:
                raw = await request.body()
                if len(raw) > MAX_BODY:
                    raise PayloadTooLarge(f"the body exceeds {MAX_BODY} bytes")
            if grouped is not None:
                grouped_handler = grouped(request, raw)
                if grouped_handler is not None:
                    return await grouped_handler(request, raw)
            if inline is not None and inline(request):
                return handler(request, raw)
            return await run_in_threadpool(handler, request, raw)
        except ScimError as exc:
            return scim_error(exc, getattr(exc, "headers", None))

    return endpoint
