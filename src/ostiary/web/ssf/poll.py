"""RFC 8936 poll delivery: a receiver POSTs acknowledgements and errors for SETs it got,
and receives the next pending SETs of its stream (long-polling when asked to)."""

from __future__ import annotations

import time
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ostiary.signals.ssf.errors import InvalidRequest, SsfError, StreamNotFound
from ostiary.signals.ssf.poll import parse_poll
from ostiary.signals.ssf.streams import POLL
from ostiary.store.repositories.ssf import SsfRepository
from ostiary.web.context import AppContext
from ostiary.web.logs import get_logger
from ostiary.web.ssf.auth import authenticate
from ostiary.web.ssf.http import MAX_BODY, AuthError, json_response, parse_json

log = get_logger("ostiary.ssf")
WAIT_STEP = 0.2


def _set_error(
    status: int, err: str, description: str, headers: dict[str, str] | None = None
) -> Response:
    # RFC 8935/8936 error bodies: {"err": <registry code>, "description": ...}.
    return json_response({"err": err, "description": description}, status, headers)


def _poll(request: Request, body: Any) -> Response:
    ctx: AppContext = request.app.state.ctx
    principal = authenticate(request)
    stream_id = request.path_params["stream_id"]
    req = parse_poll(body)
    limit = ctx.settings.ssf_poll_max_events
    limit = limit if req.max_events is None else min(req.max_events, limit)
    with ctx.db.begin() as conn:
        repo = SsfRepository(conn, ctx.vault)
        stream = repo.get(stream_id, owner=principal.key_id)
        if stream is None:
            raise StreamNotFound(stream_id)
        if stream.method != POLL:
            raise InvalidRequest("this stream is delivered by push, not poll")
        repo.acknowledge(stream.id, req.ack, req.set_errs)
        sets, more = repo.pending(stream.id, limit) if limit else ({}, False)
    if req.set_errs:
        log.warning("ssf.poll.set_errors", stream_id=stream_id, errors=req.set_errs)
    # A paused stream holds its SETs (they are not pending), so a poll finds none.
    wait_until = time.monotonic() + ctx.settings.ssf_poll_wait_seconds
    while not sets and limit and not req.return_immediately and time.monotonic() < wait_until:
        time.sleep(WAIT_STEP)
        with ctx.db.read() as conn:
            sets, more = SsfRepository(conn, ctx.vault).pending(stream_id, limit)
    return json_response({"sets": sets, "moreAvailable": more})


async def poll(request: Request) -> Response:
    try:
        raw = await request.body()
        if len(raw) > MAX_BODY:
            raise InvalidRequest(f"the body exceeds {MAX_BODY} bytes")
        return await run_in_threadpool(_poll, request, parse_json(raw))
    except AuthError as exc:
        err = "authentication_failed" if exc.status == 401 else "access_denied"
        return _set_error(exc.status, err, exc.description, {"www-authenticate": exc.challenge()})
    except SsfError as exc:
        err = "invalid_request" if exc.status == 400 else exc.code
        return _set_error(exc.status, err, exc.description)
