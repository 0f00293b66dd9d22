"""Last-resort error rendering: each protocol's errors in its own format, never a stack."""

from __future__ import annotations

from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ostiary.scim.errors import NotFound, ScimError
from ostiary.store.errors import is_transient
from ostiary.web.logs import get_logger
from ostiary.web.scim.responses import scim_error

log = get_logger("ostiary.errors")


def _is_scim(request: Request) -> bool:
    return request.url.path.startswith("/scim/")


async def _http_error(request: Request, exc: HTTPException) -> Response:
    if _is_scim(request):
        err = (
            NotFound(exc.detail)
            if exc.status_code == 404
            else ScimError(str(exc.detail), status=exc.status_code)
        )
        return scim_error(err, dict(exc.headers or {}))
    return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)


async def _scim_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    return scim_error(exc, getattr(exc, "headers", None))


async def _unexpected(request: Request, exc: Exception) -> Response:
    if is_transient(exc):
        # Two writers deadlocked (the database chose this one) or the write lock timed
        # out: nothing was written, and the same request can simply be sent again.
        log.warning("transient", path=request.url.path, error_type=type(exc).__name__)
        retry = {"Retry-After": "1"}
        if _is_scim(request):
            return scim_error(ScimError("busy: retry the request", status=503), retry)
        return JSONResponse({"detail": "busy: retry the request"}, 503, headers=retry)
    log.error("unhandled", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
    if _is_scim(request):
        return scim_error(ScimError("internal error", status=500))
    return JSONResponse({"detail": "internal error"}, 500)


def handlers() -> dict[Any, Any]:
    return {HTTPException: _http_error, ScimError: _scim_error, Exception: _unexpected}
