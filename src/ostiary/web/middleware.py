"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a copy per request).

One middleware does the per-request bookkeeping: the request id (an incoming
``X-Request-ID`` is honoured if sane, else generated, and echoed), Prometheus counts and
latency per route template, and one access log line.

It runs on every request, so its per-request work is kept small: the metric children of a
(route, method, status) are looked up once and kept; the access log line is only built
when the ``ostiary.access`` logger is enabled for INFO (structlog runs its whole processor
chain before the stdlib level check), and ``OSTIARY_ACCESS_LOG_SAMPLE`` (default 1, every
request) can log a fraction of the successful requests; 4xx and 5xx are always logged.
"""

from __future__ import annotations

import logging
import os
import random
import re
import time
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram

from ostiary.web.logs import access, request_id_var

_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# uuid4's version and variant bits, set the way uuid.UUID(version=4) sets them.
_V4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_V4_SET = (4 << 76) | (0x8000 << 48)
_POOL = 256  # request ids drawn from the OS per read


class _RequestIds:
    """``uuid.uuid4().hex``, the same 32 hex digits from the same source (``os.urandom``),
    read 256 ids at a time: one ``getrandom`` (and one GIL release, which lets granian's
    threads take the GIL mid-request) per 256 requests instead of one each, and no
    ``UUID`` object."""

    def __init__(self) -> None:
        self._ints: list[int] = []
        # A forked child must never hand out the ids its parent drew.
        os.register_at_fork(after_in_child=self._ints.clear)

    def next(self) -> str:
        if not self._ints:
            raw = os.urandom(16 * _POOL)
            self._ints.extend(
                int.from_bytes(raw[i : i + 16], "big") for i in range(0, 16 * _POOL, 16)
            )
        return f"{(self._ints.pop() & _V4_CLEAR) | _V4_SET:032x}"


_ids = _RequestIds()
new_request_id = _ids.next


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "ostiary_http_requests_total",
            "HTTP requests by route template, method and status",
            ["route", "method", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "ostiary_http_request_duration_seconds",
            "HTTP request latency by route template",
            ["route", "method"],
            registry=registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        # (route, method, status) -> (its counter, its histogram): labels() takes a lock
        # and builds a key tuple each call. Bounded: routes are templates, not paths.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, elapsed: float) -> None:
        key = (route, method, status)
        pair = self._children.get(key)
        if pair is None:
            pair = (
                self.requests.labels(route, method, str(status)),
                self.latency.labels(route, method),
            )
            self._children[key] = pair
        pair[0].inc()
        pair[1].observe(elapsed)


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


class RequestContextMiddleware:
    def __init__(self, app: Any, metrics: Metrics, access_log_sample: float = 1.0) -> None:
        self.app = app
        self.metrics = metrics
        self.sample = access_log_sample
        self._access = logging.getLogger("ostiary.access")

    def _log_this(self, status: int) -> bool:
        # Unconfigured structlog prints every line itself (no stdlib level applies).
        if structlog.is_configured() and not self._access.isEnabledFor(logging.INFO):
            return False
        return status >= 400 or self.sample >= 1.0 or random.random() < self.sample  # noqa: S311

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = _header(scope, b"x-request-id")
        rid = incoming if incoming and _SAFE_ID.match(incoming) else new_request_id()
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        start = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope["method"]
            self.metrics.observe(template, method, status, elapsed)
            if self._log_this(status):
                access(method, scope["path"], template, status, round(elapsed * 1000, 3))
            request_id_var.reset(token)
