"""Streaming (issue 5 point 4): a signed webhook and RFC 5424 syslog over TCP (octet
counting, RFC 6587 section 3.4.1) and TLS (RFC 5425), at least once through per-sink
cursors. The receivers are test servers on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import re
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from ostiary.audit.syslog import parse_frames
from ostiary.audit.transport import check_signature
from ostiary.core.settings import Settings
from ostiary.store.repositories.audit_outbox import SinkCursors, configured_sinks, deliver_once
from tests.audit.support import START, append_events
from tests.support.deploy import Deployment
from tests.support.tls import self_signed

SECRET = "whsec-test-0123456789"
RFC5424 = re.compile(
    rb"^<(\d+)>1 (\S+) (\S+) ostiary - (\S+) \[ostiary@32473 [^\]]*\] \xef\xbb\xbf"
)


@contextmanager
def webhook_receiver(fail_first: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    state = {"failures": fail_first}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            ok = check_signature(
                SECRET.encode(),
                self.headers["X-Ostiary-Timestamp"],
                body,
                self.headers["X-Ostiary-Signature"],
            )
            if not ok:
                self.send_response(401)
            elif state["failures"] > 0:
                state["failures"] -= 1
                self.send_response(503)
            else:
                received.extend(orjson.loads(body)["events"])
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def syslog_receiver(tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, list[bytes]]]:
    messages: list[bytes] = []

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            conn: socket.socket = self.request
            if tls is not None:
                conn = tls.wrap_socket(conn, server_side=True)
            buffer = b""
            while chunk := conn.recv(65536):
                buffer += chunk
            frames, rest = parse_frames(buffer)
            assert rest == b""
            messages.extend(frames)
            conn.close()

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", messages
    finally:
        server.shutdown()
        server.server_close()


def _settings(dep: Deployment, **extra: Any) -> Settings:
    return Settings(**(dep.settings.model_dump() | extra))


def test_webhook_gets_every_event_at_least_once_after_failures(deployment: Deployment):
    ids = append_events(deployment, 7)
    with webhook_receiver(fail_first=1) as (url, received):
        s = _settings(deployment, audit_webhook_url=url, audit_webhook_secret=SECRET)
        sinks = configured_sinks(s)
        first = deliver_once(deployment.db, sinks, START, batch=5)
        assert first == {} and received == []  # refused: the cursor stays put
        with deployment.db.read() as conn:
            state = SinkCursors(conn).get("webhook")
        assert state.next_position == 0 and state.attempts == 1 and "503" in state.last_error
        # Not due yet (backoff), then due.
        assert deliver_once(deployment.db, sinks, START, batch=5) == {}
        later = START + dt.timedelta(minutes=10)
        assert deliver_once(deployment.db, sinks, later, batch=5) == {"webhook": 5}
        assert deliver_once(deployment.db, sinks, later, batch=5) == {"webhook": 2}
        assert deliver_once(deployment.db, sinks, later, batch=5) == {"webhook": 0}
    assert [e["id"] for e in received] == ids
    with deployment.db.read() as conn:
        assert SinkCursors(conn).get("webhook").next_position == 7


def test_syslog_over_tcp_and_tls_is_rfc5424_octet_counted(deployment: Deployment, tmp_path):
    ids = append_events(deployment, 3)
    with syslog_receiver() as (address, messages):
        s = _settings(deployment, audit_syslog_address=address)
        assert deliver_once(deployment.db, configured_sinks(s), START, batch=10) == {"syslog": 3}
    assert len(messages) == 3
    for message, event_id in zip(messages, ids, strict=True):
        match = RFC5424.match(message)
        assert match, message[:120]
        assert int(match.group(1)) == 13 * 8 + 6  # facility log audit, informational
        assert match.group(4) == b"scim.user.create"
        assert orjson.loads(message[match.end() :])["id"] == event_id
    server_ctx, cert = self_signed(tmp_path)
    more = append_events(deployment, 2, START + dt.timedelta(hours=1))
    with syslog_receiver(server_ctx) as (address, messages):
        s = _settings(
            deployment,
            audit_syslog_address=address,
            audit_syslog_tls=True,
            audit_syslog_ca_file=cert,
        )
        sinks = configured_sinks(s)
        with deployment.db.begin() as conn:  # a new TLS sink picks up where syslog left off
            SinkCursors(conn).ensure("syslog", 3, START)
        assert deliver_once(deployment.db, sinks, START, batch=10) == {"syslog": 2}
    assert [orjson.loads(RFC5424.sub(b"", m))["id"] for m in messages] == more
