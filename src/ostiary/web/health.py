"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ostiary.store import migrate
from ostiary.store.errors import DatabaseUnavailable, NotMigrated
from ostiary.store.repositories.outbox import OutboxRepository
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


class OutboxCollector(Collector):
    """Outbox depth by status, read from the database at scrape time (shared by all
    nodes, so every node reports the same truth)."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "ostiary_outbox_messages", "Outbox messages by status", labels=["status"]
        )
        with self.ctx.db.read() as conn:
            for status, count in OutboxRepository(conn).counts().items():
                family.add_metric([status], count)
        yield family


def _scrape(ctx: AppContext) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Several granian workers: each writes its samples to the shared directory and
        # any worker answering the scrape sums them all.
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Delegate(ctx.registry))
    registry.register(OutboxCollector(ctx))
    return generate_latest(registry)


class _Delegate(Collector):
    def __init__(self, inner: CollectorRegistry) -> None:
        self.inner = inner

    def collect(self) -> Iterator[Metric]:
        yield from self.inner.collect()


async def metrics(request: Request) -> Response:
    body = await run_in_threadpool(_scrape, request.app.state.ctx)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
