"""Request/response plumbing for the SSF endpoints: plain Starlette, orjson, handler on
a worker thread, every refusal a JSON error with its status (never a 500)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ostiary.signals.ssf.errors import InvalidRequest, SsfError, TooFrequent

MAX_BODY = 256 * 1024
NO_STORE = {"cache-control": "no-store"}
Handler = Callable[[Request, Any], Response]


class AuthError(Exception):
    """RFC 6750 section 3: 401 with a challenge, or 403 insufficient_scope."""

    def __init__(self, status: int, code: str | None, description: str, scope: str = "") -> None:
        super().__init__(description)
        self.status, self.code, self.description, self.scope = status, code, description, scope

    def challenge(self) -> str:
        parts = ['Bearer realm="ostiary-ssf"']
        if self.code:
            parts.append(f'error="{self.code}"')
        if self.scope:
            parts.append(f'scope="{self.scope}"')
        return ", ".join(parts)


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(doc),
        status_code=status,
        media_type="application/json",
        headers=NO_STORE | (headers or {}),
    )


def empty(status: int) -> Response:
    return Response(status_code=status, headers=NO_STORE)


def error_response(exc: SsfError | AuthError) -> Response:
    if isinstance(exc, AuthError):
        body = {"error": exc.code or "invalid_token", "error_description": exc.description}
        return json_response(body, exc.status, {"www-authenticate": exc.challenge()})
    headers = {"retry-after": str(exc.retry_after)} if isinstance(exc, TooFrequent) else None
    return json_response(
        {"error": exc.code, "error_description": exc.description}, exc.status, headers
    )


def parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    if b"\\u0000" in raw:
        # PostgreSQL text and JSONB cannot hold NUL: refuse it here rather than fail later.
        raise InvalidRequest("NUL characters are not accepted")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the request body is not valid JSON") from None


def ssf_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            raw = b""
            if request.method in {"POST", "PUT", "PATCH"}:
                raw = await request.body()
                if len(raw) > MAX_BODY:
                    raise InvalidRequest(f"the body exceeds {MAX_BODY} bytes")
            return await run_in_threadpool(handler, request, parse_json(raw))
        except (SsfError, AuthError) as exc:
            return error_response(exc)

    return endpoint
