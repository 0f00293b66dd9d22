"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ostiary.store import migrate
from ostiary.store.errors import DatabaseUnavailable, NotMigrated
from ostiary.web.context import AppContext


async def healthz(_request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _readiness(ctx: AppContext) -> tuple[int, dict[str, str]]:
    try:
        ctx.db.ping()
        migrate.ensure_current(ctx.db)
    except (DatabaseUnavailable, NotMigrated) as exc:
        return 503, {"status": "unavailable", "reason": str(exc)}
    return 200, {"status": "ready", "schema": migrate.head_revision()}


async def readyz(request: Request) -> Response:
    status, body = await run_in_threadpool(_readiness, request.app.state.ctx)
    return JSONResponse(body, status_code=status)


async def metrics(request: Request) -> Response:
    ctx: AppContext = request.app.state.ctx
    registry = ctx.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several granian workers: each writes its samples to the shared directory and
        # any worker answering the scrape sums them all.
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
