"""A lean HTTP/1.1 transport for the sync agent's httpx client (issue 8 point 8).

One request per change sends 100,000 small POSTs; under httpx's default transport
(httpcore + h11) each cost the agent ~1.6 M instructions, most of them in the h11 state
machine, header re-validation and the per-request pool bookkeeping. This transport does
what those requests need and no more: the head and body in one ``sendall``, the response
head parsed in one pass, the body framed by Content-Length, chunked coding or the close
of the connection (RFC 9112 s6.3), keep-alive connections reused per origin, httpx's
timeouts (connect, read, write, pool) and exceptions, TLS through :mod:`ssl` with httpx's
own SSL context. httpx stays the client: auth, redirects, content decoding, the Response.

What it does not do goes to ``fallback`` (httpx's default transport): request bodies
that are streamed rather than bytes, ``Expect``/``Upgrade`` requests, schemes other than
http and https. Proxies never reach it (:class:`~ostiary.sync.client.ScimClient` keeps
httpx's default transport when the environment names one). A response is read whole
before it is returned, so ``client.stream()`` works but does not stream.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any

import httpx

from ostiary.sync.http1 import Conn, read_response, request_head

# A body up to this size goes out in one sendall with the head (one segment, one syscall).
JOINED_SEND = 256 * 1024


class LeanTransport(httpx.BaseTransport):
    def __init__(
        self,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        trust_env: bool = True,
        limits: httpx.Limits = httpx.Limits(max_connections=8, max_keepalive_connections=8),
        fallback: httpx.BaseTransport | None = None,
    ):
        self._verify, self._cert, self._trust_env = verify, cert, trust_env
        self._ssl: ssl.SSLContext | None = None
        self._fallback = fallback or httpx.HTTPTransport(
            verify=verify, cert=cert, trust_env=trust_env, limits=limits
        )
        self._max = limits.max_connections or 1 << 30
        self._keep = (
            self._max
            if limits.max_keepalive_connections is None
            else limits.max_keepalive_connections
        )
        self._expiry = limits.keepalive_expiry
        self._slots = threading.BoundedSemaphore(self._max)
        self._lock = threading.Lock()
        self._idle: dict[tuple[bytes, bytes, int], list[Conn]] = {}
        self._open = 0  # connections in use or idle
        self._closed = False

    # --- httpx.BaseTransport ------------------------------------------------------------

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if (
            url.scheme not in ("http", "https")
            or not isinstance(request.stream, httpx.ByteStream)
            or "expect" in request.headers
            or "upgrade" in request.headers
        ):
            return self._fallback.handle_request(request)
        timeouts = request.extensions.get("timeout") or {}
        if not self._slots.acquire(timeout=_blocking(timeouts.get("pool"))):
            raise httpx.PoolTimeout("no connection free within the pool timeout", request=request)
        try:
            return self._exchange(request, timeouts)
        finally:
            self._slots.release()

    def close(self) -> None:
        with self._lock:
            self._closed = True  # a request still running closes its connection after it
            idle, self._idle = self._idle, {}
            for conns in idle.values():
                for conn in conns:
                    conn.close()
                    self._open -= 1
        self._fallback.close()

    # --- one exchange ---------------------------------------------------------------------

    def _exchange(
        self, request: httpx.Request, timeouts: dict[str, float | None]
    ) -> httpx.Response:
        url = request.url
        origin = (url.raw_scheme, url.raw_host, url.port or (443 if url.scheme == "https" else 80))
        head = request_head(request)
        body = request.read()  # a ByteStream: its one chunk
        conn = self._checkout(origin, request, timeouts.get("connect"))
        keep = False
        try:
            sent_error = self._send(conn, request, head, body, timeouts.get("write"))
            conn.settimeout(timeouts.get("read"))
            try:
                response, keep = read_response(conn, request)
            except httpx.TransportError:
                # The server may answer and close before reading the whole body (a 413):
                # httpcore reads that answer; without one, the write error is the cause.
                if sent_error is not None:
                    raise sent_error from None
                raise
            if sent_error is not None:
                keep = False
            return response
        finally:
            self._checkin(origin, conn, keep)

    def _checkout(
        self, origin: tuple[bytes, bytes, int], request: httpx.Request, timeout: float | None
    ) -> Conn:
        now = time.monotonic()
        with self._lock:
            conns = self._idle.get(origin)
            while conns:
                conn = conns.pop()
                if (self._expiry is None or now - conn.idle_since < self._expiry) and (
                    not conn.stale()
                ):
                    return conn
                conn.close()
                self._open -= 1
            if self._open >= self._max:  # an idle connection to another origin makes room
                self._evict_one()
            self._open += 1
        try:
            return self._connect(origin, request, timeout)
        except BaseException:
            with self._lock:
                self._open -= 1
            raise

    def _evict_one(self) -> None:
        for conns in self._idle.values():
            if conns:
                conns.pop(0).close()
                self._open -= 1
                return

    def _checkin(self, origin: tuple[bytes, bytes, int], conn: Conn, keep: bool) -> None:
        with self._lock:
            idle = sum(len(c) for c in self._idle.values())
            if keep and idle < self._keep and not self._closed:
                conn.idle_since = time.monotonic()
                self._idle.setdefault(origin, []).append(conn)
                return
            self._open -= 1
        conn.close()

    def _connect(
        self, origin: tuple[bytes, bytes, int], request: httpx.Request, timeout: float | None
    ) -> Conn:
        scheme, host, port = origin
        name = host.decode("ascii")
        try:
            sock = socket.create_connection((name, port), timeout=timeout)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc) or "connect timed out", request=request) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if scheme == b"https":
                sni = request.extensions.get("sni_hostname") or name
                sock = self._context().wrap_socket(sock, server_hostname=sni)
        except TimeoutError as exc:
            sock.close()
            raise httpx.ConnectTimeout(
                str(exc) or "TLS handshake timed out", request=request
            ) from exc
        except OSError as exc:  # ssl.SSLError is an OSError
            sock.close()
            raise httpx.ConnectError(str(exc), request=request) from exc
        return Conn(sock, timeout)

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(
                verify=self._verify, cert=self._cert, trust_env=self._trust_env
            )
        return self._ssl

    @staticmethod
    def _send(
        conn: Conn, request: httpx.Request, head: bytes, body: bytes, timeout: float | None
    ) -> httpx.TransportError | None:
        """Send the request; a failure is returned (the server may still have answered)."""
        conn.settimeout(timeout)
        try:
            if len(body) <= JOINED_SEND:
                conn.sock.sendall(head + body)
            else:
                conn.sock.sendall(head)
                conn.sock.sendall(body)
        except TimeoutError as exc:
            return httpx.WriteTimeout(str(exc) or "write timed out", request=request)
        except OSError as exc:
            return httpx.WriteError(str(exc), request=request)
        return None


def _blocking(timeout: float | None) -> float:
    return -1 if timeout is None else timeout
