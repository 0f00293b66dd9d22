"""The access log line and its sampling option (``OSTIARY_ACCESS_LOG_SAMPLE``): every
request is logged by default, a sampled deployment still logs every 4xx and 5xx, and no
line is built when the ``ostiary.access`` logger is below INFO."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest
import structlog
from prometheus_client import CollectorRegistry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from structlog.testing import capture_logs

from ostiary.core.settings import Settings
from ostiary.web import logs
from ostiary.web.middleware import Metrics, RequestContextMiddleware


async def ok(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def _client(sample: float) -> TestClient:
    app = Starlette(routes=[Route("/ok/{n}", ok)])
    metrics = Metrics(CollectorRegistry())
    return TestClient(RequestContextMiddleware(app, metrics, access_log_sample=sample))


@pytest.fixture
def access_level() -> Iterator[logging.Logger]:
    logger = logging.getLogger("ostiary.access")
    before = logger.level
    logger.setLevel(logging.INFO)
    yield logger
    logger.setLevel(before)


def _lines(client: TestClient, *paths: str) -> list[dict[str, object]]:
    with capture_logs() as logs:
        for path in paths:
            client.get(path)
    return [line for line in logs if line["event"] == "request"]


def test_every_request_is_logged_by_default(access_level: logging.Logger):
    lines = _lines(_client(1.0), "/ok/1", "/ok/2", "/missing")
    assert [(x["status"], x["route"]) for x in lines] == [
        (200, "/ok/{n}"),
        (200, "/ok/{n}"),
        (404, "unmatched"),
    ]
    assert all(isinstance(x["duration_ms"], float) and x["method"] == "GET" for x in lines)


def test_sampling_zero_keeps_only_errors(access_level: logging.Logger):
    lines = _lines(_client(0.0), "/ok/1", "/ok/2", "/missing")
    assert [x["status"] for x in lines] == [404]


def test_no_line_below_info(access_level: logging.Logger):
    access_level.setLevel(logging.WARNING)
    assert _lines(_client(1.0), "/ok/1", "/missing") == []


def test_metrics_count_each_request_once(access_level: logging.Logger):
    registry = CollectorRegistry()
    app = Starlette(routes=[Route("/ok/{n}", ok)])
    client = TestClient(RequestContextMiddleware(app, Metrics(registry)))
    for path in ("/ok/1", "/ok/2", "/ok/3"):
        client.get(path)
    labels = {"route": "/ok/{n}", "method": "GET", "status": "200"}
    assert registry.get_sample_value("ostiary_http_requests_total", labels) == 3
    hist = {"route": "/ok/{n}", "method": "GET"}
    assert registry.get_sample_value("ostiary_http_request_duration_seconds_count", hist) == 3


def test_sample_setting_is_bounded():
    assert Settings().access_log_sample == 1.0
    with pytest.raises(ValueError, match="access_log_sample"):
        Settings(access_log_sample=1.5)


@pytest.fixture
def configured(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """``logs.configure`` as serve runs it, writing to a buffer; undone afterwards."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    root = logging.getLogger()
    handlers, level = root.handlers, root.level
    logs.configure("info", True)
    yield out
    root.handlers, root.level = handlers, level
    logs._direct.clear()
    structlog.reset_defaults()


def _without_time(line: str) -> dict[str, object]:
    doc = json.loads(line)
    assert doc.pop("timestamp").endswith("Z")
    return doc


@pytest.mark.parametrize(
    "path", ["/scim/v2/Users", "/x/ost_pk_abcdefghijkl_abcdefgh", "/caf\u00e9/\u00fc"]
)
def test_direct_line_is_structlogs_line(configured: io.StringIO, path: str):
    """The access line written directly is, key for key and byte for byte apart from the
    timestamp, the one structlog's processor chain renders (redaction included)."""
    token = logs.request_id_var.set("ost_pk_abcdefghijkl_abcdefgh")
    try:
        logs.access("GET", path, "/scim/v2/Users", 200, 0.123)
        logs.get_logger("ostiary.access").info(
            "request",
            method="GET",
            path=path,
            route="/scim/v2/Users",
            status=200,
            duration_ms=0.123,
        )
    finally:
        logs.request_id_var.reset(token)
    direct, chained = configured.getvalue().splitlines()
    assert list(json.loads(direct)) == list(json.loads(chained))
    assert _without_time(direct) == _without_time(chained)
    assert direct.split('"timestamp"')[0] == chained.split('"timestamp"')[0]
    assert "ost_pk_" not in direct


def test_captured_logs_still_see_the_line(configured: io.StringIO):
    """Reconfigured structlog (as ``capture_logs`` does) gets the line, not the stream."""
    with capture_logs() as captured:
        logs.access("GET", "/p", "/p", 200, 1.0)
    assert captured[0]["event"] == "request" and configured.getvalue() == ""


@pytest.fixture
def batched(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """``logs.configure`` as ``ostiary serve`` runs it (access lines batched)."""
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    root = logging.getLogger()
    handlers, level = root.handlers, root.level
    logs.configure("info", True, batch_access=True)
    yield out
    root.handlers, root.level = handlers, level
    logs._direct.clear()
    structlog.reset_defaults()


def _line(path: str) -> str:
    return json.dumps({"path": path}) + "\n"


def test_served_access_lines_are_written_in_batches_in_order(batched: io.StringIO):
    """On an event loop the access lines of a batch wait (one write for all of them, no
    GIL release per request) and keep their order with the log's other lines. (The
    handler is driven directly: pytest's own log capture, on the root logger during a
    test, sends ``access`` through structlog, which writes at once.)"""
    handler = logs._direct[0][0]
    other = logging.LogRecord("ostiary.app", logging.INFO, __file__, 1, "other", None, None)

    async def go() -> None:
        handler.write_line(_line("/a"))
        handler.write_line(_line("/b"))
        assert batched.getvalue() == ""  # waiting for the batch's timer
        await asyncio.sleep(logs.ACCESS_FLUSH_SECONDS * 2)
        assert [json.loads(x)["path"] for x in batched.getvalue().splitlines()] == ["/a", "/b"]
        handler.write_line(_line("/c"))
        handler.handle(other)  # any other record: the waiting lines first
        lines = [json.loads(x) for x in batched.getvalue().splitlines()]
        assert [x.get("path", x.get("event")) for x in lines] == ["/a", "/b", "/c", "other"]

    asyncio.run(go())
    handler.write_line(_line("/d"))  # no event loop in this thread: written at once
    assert json.loads(batched.getvalue().splitlines()[-1])["path"] == "/d"


def test_logging_shutdown_writes_waiting_lines(batched: io.StringIO):
    handler = logs._direct[0][0]

    async def go() -> None:
        handler.write_line(_line("/a"))

    asyncio.run(go())  # the loop closed before the batch's timer ran
    assert batched.getvalue() == ""
    handler.flush()  # as logging.shutdown does at exit
    assert json.loads(batched.getvalue())["path"] == "/a"
