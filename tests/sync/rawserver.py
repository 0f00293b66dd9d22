"""A scripted HTTP/1.1 server on a real socket, for the sync agent's transport tests.

Each request is read whole (Content-Length or chunked body) and given to ``reply``, which
returns the bytes to send and whether to close the connection afterwards. What the server
saw (connection number, request head, body) is kept in ``seen``.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

Reply = Callable[[int, bytes, bytes], tuple[bytes, bool]]


@dataclass
class RawServer:
    reply: Reply
    context: ssl.SSLContext | None = None
    seen: list[tuple[int, bytes, bytes]] = field(default_factory=list)
    connections: int = 0

    def __post_init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self.port = self._sock.getsockname()[1]
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self.context else 'http'}://127.0.0.1:{self.port}"

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sock.close()
        for conn in self._open:
            with contextlib.suppress(OSError):
                conn.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.connections += 1
            if self.context is not None:
                try:
                    conn = self.context.wrap_socket(conn, server_side=True)
                except (OSError, ssl.SSLError):
                    conn.close()
                    continue
            self._open.append(conn)
            number = self.connections
            threading.Thread(target=self._serve, args=(conn, number), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                head, _, buf = buf.partition(b"\r\n\r\n")
                body, buf = _body(conn, head, buf)
                self.seen.append((number, head, body))
                data, close = self.reply(number, head, body)
                conn.sendall(data)
                if close:
                    return
        except OSError:
            return
        finally:
            with contextlib.suppress(OSError):
                conn.close()


def _body(conn: socket.socket, head: bytes, buf: bytes) -> tuple[bytes, bytes]:
    fields = {
        k.strip().lower(): v.strip()
        for k, _, v in (line.partition(b":") for line in head.split(b"\r\n")[1:])
    }
    if fields.get(b"transfer-encoding", b"").lower() == b"chunked":
        out = b""
        while True:
            while b"\r\n" not in buf:
                buf += conn.recv(65536)
            line, _, buf = buf.partition(b"\r\n")
            n = int(line.split(b";")[0], 16)
            while len(buf) < n + 2:
                buf += conn.recv(65536)
            out, buf = out + buf[:n], buf[n + 2 :]
            if n == 0:
                return out, buf
    n = int(fields.get(b"content-length", b"0"))
    while len(buf) < n:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
    return buf[:n], buf[n:]


def response(status: str, body: bytes = b"", *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body
