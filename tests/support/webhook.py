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
