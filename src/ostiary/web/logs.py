"""JSON logs through structlog, with the request id on every line of a request.

Secrets never reach a log: handlers log ids and outcomes, never tokens or bodies, and the
``redact`` processor masks anything that looks like a provisioning key or bearer header in
case one slips into a message.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import sys
import threading
from contextlib import suppress
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import structlog

_NO_LOCK = threading.Lock()
request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

_SECRET_PATTERNS = [
    re.compile(r"ost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{6,}"),
    re.compile(r"(?i)(bearer|dpop)\s+[A-Za-z0-9._~+/=-]{8,}"),
]
_SECRET_KEYS = {"authorization", "password", "secret", "token", "client_secret", "key"}


def _redact_text(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[REDACTED]", text)
    return text


def redact(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    for key, value in list(event.items()):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[REDACTED]"
        elif isinstance(value, str):
            event[key] = _redact_text(value)
    return event


def add_request_id(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    rid = request_id_var.get()
    if rid is not None:
        event.setdefault("request_id", rid)
    return event


def _shared() -> list[Any]:
    return [
        structlog.contextvars.merge_contextvars,
        add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]


def json_formatter() -> logging.Formatter:
    """A stdlib formatter writing the same JSON lines (granian's own loggers use it)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared(), processor=structlog.processors.JSONRenderer()
    )


def granian_log_config() -> dict[str, Any]:
    """Granian's dictConfig override: its main-process lines become JSON too."""
    return {
        "formatters": {
            "generic": {"()": "ostiary.web.logs.json_formatter"},
            "access": {"()": "ostiary.web.logs.json_formatter"},
        }
    }


# How long an access line may wait to be written with the ones after it (served only).
ACCESS_FLUSH_SECONDS = 0.05


class JsonHandler(logging.StreamHandler[Any]):
    """The root handler ``configure`` installs. With ``batch`` (``ostiary serve``), access
    lines wait up to ``ACCESS_FLUSH_SECONDS`` and are written together: one ``write`` per
    batch instead of one per request. The write releases the GIL, and under granian each
    release mid-request hands the GIL to the server's I/O thread and back (measured in
    docs/performance.md). Waiting lines are written first whenever any other record is,
    and on ``flush`` (logging.shutdown, the application's shutdown), so the log keeps its
    order; each write carries whole lines, so workers sharing the file never interleave
    inside a line."""

    def __init__(self, stream: Any, batch: bool = False) -> None:
        super().__init__(stream)
        self.batch = batch
        self._pending: list[str] = []
        self._scheduled = False

    def emit(self, record: logging.LogRecord) -> None:
        self.drain()
        super().emit(record)

    def flush(self) -> None:
        self.drain()
        super().flush()

    def write_line(self, line: str) -> None:
        """Write one access line now, or with the next batch on an event loop."""
        with self.lock or _NO_LOCK:
            self._pending.append(line)
            if self._scheduled:
                return
            self._scheduled = self.batch
        if self.batch:
            try:
                asyncio.get_running_loop().call_later(ACCESS_FLUSH_SECONDS, self.drain)
                return
            except RuntimeError:  # no loop in this thread: nothing would run the timer
                pass
        self.drain()

    def drain(self) -> None:
        # As logging.Handler.emit would: a failed write (closed pipe) never fails a request.
        with self.lock or _NO_LOCK:
            self._scheduled = False
            if not self._pending:
                return
            text = "".join(self._pending)
            self._pending.clear()
            with suppress(Exception):
                self.stream.write(text)
                self.stream.flush()


def configure(level: str = "info", json: bool = True, *, batch_access: bool = False) -> None:
    renderer: Any = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared = _shared()
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=True,
    )
    handler = JsonHandler(sys.stdout, batch=batch_access)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer)
    )
    root = logging.getLogger()
    root.handlers = [handler]
    _direct.clear()
    if json:
        _direct.append((handler, tuple(structlog.get_config()["processors"])))
    root.setLevel(level.upper())
    # Alembic narrates every schema check at INFO; readiness probes would flood the log.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Route granian's own loggers through the same formatter.
    for name in ("granian", "granian.access", "_granian"):
        lg = logging.getLogger(name)
        lg.handlers = []
        lg.propagate = True


def get_logger(name: str = "ostiary") -> Any:
    return structlog.get_logger(name)


# The access line's direct writer (see ``access``): the handler ``configure`` installed
# and the processor list it gave structlog; empty when not configured for JSON.
_direct: list[tuple[JsonHandler, tuple[Any, ...]]] = []


def _direct_handler() -> JsonHandler | None:
    """Our JSON handler when it is still the one in charge: nothing reconfigured structlog
    (tests capture logs that way) and the root logger still writes only through it."""
    if not _direct:
        return None
    handler, processors = _direct[0]
    # By value: structlog.testing.capture_logs swaps the list's contents in place.
    if tuple(structlog.get_config()["processors"]) != processors:
        return None
    # logging.root and _ACCESS are the objects getLogger() returns (loggers are never
    # replaced), without its module lock.
    if logging.root.handlers != [handler] or _ACCESS.handlers:
        return None
    return handler


_ACCESS = logging.getLogger("ostiary.access")
# Redacted method and route names: a bounded set (route templates), each redacted once.
_REDACTED: dict[str, str] = {}


def _redact_name(text: str) -> str:
    done = _REDACTED.get(text)
    if done is None:
        done = _redact_text(text)
        if len(_REDACTED) < 1024:
            _REDACTED[text] = done
    return done


def access(method: str, path: str, route: str, status: int, duration_ms: float) -> None:
    """Write one access line (INFO, logger ``ostiary.access``; the caller checked the level).

    The line is the one structlog's chain renders (``tests/web/test_access_log.py``
    compares them), built directly: the chain (contextvars merge, request id, level,
    ISO timestamp, redaction, the ProcessorFormatter's copy of the LogRecord, JSON) cost
    about 300,000 instructions per request, a third of a SCIM lookup. Nothing in Ostiary
    binds structlog contextvars, which is the one processor this does not repeat.
    """
    handler = _direct_handler()
    if handler is None:  # a fresh proxy: one cached under an earlier configuration is stale
        get_logger("ostiary.access").info(
            "request",
            method=method,
            path=path,
            route=route,
            status=status,
            duration_ms=duration_ms,
        )
        return
    event: dict[str, Any] = {
        "method": _redact_name(method),
        "path": _redact_name(path) if path == route else _redact_text(path),
        "route": _redact_name(route),
        "status": status,
        "duration_ms": duration_ms,
        "event": "request",
    }
    rid = request_id_var.get()
    if rid is not None:
        event["request_id"] = _redact_text(rid)
    event["level"] = "info"
    event["timestamp"] = datetime.now(tz=UTC).isoformat().replace("+00:00", "Z")
    handler.write_line(json.dumps(event) + handler.terminator)
