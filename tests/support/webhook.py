"""A webhook receiver on 127.0.0.1 for tests: records each POST (headers, body)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from ostiary.signals import webhooks
from ostiary.web.keys import wiring


@dataclass
class Received:
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    status: int = 204
    timed: list[tuple[float, bytes]] = field(default_factory=list)  # (perf_counter, body)

    def docs(self) -> list[dict[str, Any]]:
        return [orjson.loads(body) for _, body in self.posts]


@contextmanager
def webhook_receiver() -> Iterator[tuple[str, Received]]:
    received = Received()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            received.timed.append((time.perf_counter(), body))
            received.posts.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(received.status)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def deliver_key_events(tc: Any, received: Received) -> list[dict[str, Any]]:
    """Run the app's outbox until it is empty, then the key events the receiver got
    (the ``data`` of each Standard Webhooks message), each signature checked with the
    ``keys.webhook_secret`` the OSTIARY_KEY_WEBHOOK_URL endpoint was registered with."""
    ctx = tc.app.state.ctx
    worker = ctx.outbox_worker()
    while worker.run_once():
        pass
    secret = wiring.secret_loader(ctx)()
    docs = []
    for headers, body in received.posts:
        assert webhooks.verify(secret, headers, body, ctx.clock.now()), headers
        doc = orjson.loads(body)
        assert doc["type"] == doc["data"]["event"]
        docs.append(doc["data"])
    return docs
