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

import contextlib
import re
import select
import socket
import ssl
import threading
import time
from typing import Any

import httpx

MAX_HEAD = 64 * 1024  # bytes of a response head (h11's default is 16 KiB)
RECV = 256 * 1024
# A header name is a token (RFC 9110 s5.6.2); values carry no control characters but
# HTAB (s5.5): a CR or LF would let a value inject headers.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_NAMES: set[bytes] = set()  # header names already found to be tokens
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_NO_BODY = {204, 304}


class _Conn:
    """One connection and what has been received on it past the last response."""

    __slots__ = ("buf", "idle_since", "sock", "timeout")

    def __init__(self, sock: socket.socket, timeout: float | None):
        self.sock = sock
        self.buf = bytearray()
        self.idle_since = 0.0
        self.timeout = timeout

    def settimeout(self, timeout: float | None) -> None:
        if timeout != self.timeout:  # a syscall each time: skip when unchanged
            self.sock.settimeout(timeout)
            self.timeout = timeout

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()

    def stale(self) -> bool:
        """An idle connection the server closed (or wrote to, unasked) cannot be reused."""
        if self.buf:
            return True
        if isinstance(self.sock, ssl.SSLSocket) and self.sock.pending():
            return True
        poller = select.poll()  # not select(): descriptors past FD_SETSIZE
        poller.register(self.sock, select.POLLIN)
        try:
            return bool(poller.poll(0))
        except OSError:
            return True


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
        self._idle: dict[tuple[bytes, bytes, int], list[_Conn]] = {}
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
        head = _head(request)
        body = request.read()  # a ByteStream: its one chunk
        conn = self._checkout(origin, request, timeouts.get("connect"))
        keep = False
        try:
            sent_error = self._send(conn, request, head, body, timeouts.get("write"))
            conn.settimeout(timeouts.get("read"))
            try:
                response, keep = _read_response(conn, request)
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
    ) -> _Conn:
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

    def _checkin(self, origin: tuple[bytes, bytes, int], conn: _Conn, keep: bool) -> None:
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
    ) -> _Conn:
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
        return _Conn(sock, timeout)

    def _context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context(
                verify=self._verify, cert=self._cert, trust_env=self._trust_env
            )
        return self._ssl

    @staticmethod
    def _send(
        conn: _Conn, request: httpx.Request, head: bytes, body: bytes, timeout: float | None
    ) -> httpx.TransportError | None:
        """Send the request; a failure is returned (the server may still have answered)."""
        conn.settimeout(timeout)
        try:
            if len(body) <= RECV:
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


def _head(request: httpx.Request) -> bytes:
    """The request line and header fields, checked as h11 would before sending."""
    target = request.url.raw_path
    lines = [request.method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in request.headers.raw:
        if name not in _NAMES:  # the same dozen names on every request: checked once
            if not _TOKEN.fullmatch(name):
                raise httpx.LocalProtocolError(f"invalid header name {name!r}", request=request)
            if len(_NAMES) < 1024:
                _NAMES.add(name)
        lines += (name, b": ", value, b"\r\n")
    # One scan of the values and the target for CR, LF and the other controls.
    if not target or b" " in target or _BAD_VALUE.search(b"".join(lines[2::4])):
        raise httpx.LocalProtocolError("invalid request target or header value", request=request)
    lines.append(b"\r\n")
    return b"".join(lines)


# --- reading a response ---------------------------------------------------------------


def _recv(conn: _Conn, request: httpx.Request) -> bytes:
    try:
        return conn.sock.recv(RECV)
    except TimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc


def _read_response(conn: _Conn, request: httpx.Request) -> tuple[httpx.Response, bool]:
    """(response, whether the connection may carry another request)."""
    while True:
        version, status, reason, headers = _read_head(conn, request)
        if status >= 200:
            break
        if status == 101:  # no Upgrade was asked for (those requests go to the fallback)
            raise httpx.RemoteProtocolError("unexpected 101 Switching Protocols", request=request)
        # 1xx (RFC 9110 s15.2): informational, the final response follows.
    fields: dict[bytes, list[bytes]] = {}
    for name, value in headers:
        fields.setdefault(name.lower(), []).append(value)
    tokens = b",".join(fields.get(b"connection", ())).lower()
    keep = version == b"HTTP/1.1" and b"close" not in {t.strip() for t in tokens.split(b",")}
    if request.method == "HEAD" or status in _NO_BODY:
        body = b""
    elif b"transfer-encoding" in fields:
        codings = b",".join(fields[b"transfer-encoding"]).lower().split(b",")
        if codings[-1].strip() == b"chunked":
            body = _read_chunked(conn, request)
        else:  # RFC 9112 s6.3 item 4: the body runs to the close
            body, keep = _read_to_close(conn, request), False
        keep = keep and b"content-length" not in fields  # s6.1: close after both
    elif b"content-length" in fields:
        body = _read_exact(conn, request, _content_length(fields[b"content-length"], request))
    else:
        body, keep = _read_to_close(conn, request), False
    response = httpx.Response(
        status,
        headers=headers,
        stream=httpx.ByteStream(body),
        extensions={"http_version": version, "reason_phrase": reason},
    )
    return response, keep


def _read_head(
    conn: _Conn, request: httpx.Request
) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    buf = conn.buf
    start = 0
    while True:
        end = buf.find(b"\r\n\r\n", start)
        if end >= 0:
            break
        if len(buf) > MAX_HEAD:
            raise httpx.RemoteProtocolError("response head too large", request=request)
        start = max(0, len(buf) - 3)
        chunk = _recv(conn, request)
        if not chunk:
            what = "without sending a response" if not buf else "in the response head"
            raise httpx.RemoteProtocolError(f"Server disconnected {what}.", request=request)
        buf += chunk
    lines = bytes(buf[:end]).split(b"\r\n")
    del buf[: end + 4]
    version, _, rest = lines[0].partition(b" ")
    code, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or len(code) != 3 or not code.isdigit():
        raise httpx.RemoteProtocolError(f"malformed status line {lines[0][:80]!r}", request=request)
    headers: list[tuple[bytes, bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t") and headers:  # obsolete line folding (s5.2)
            name, value = headers[-1]
            headers[-1] = (name, value + b" " + line.strip(b" \t"))
            continue
        name, colon, value = line.partition(b":")
        if not colon or (name not in _NAMES and not _TOKEN.fullmatch(name)):
            raise httpx.RemoteProtocolError(f"malformed header {line[:80]!r}", request=request)
        headers.append((name, value.strip(b" \t")))
    return version, int(code), reason, headers


def _content_length(values: list[bytes], request: httpx.Request) -> int:
    lengths = {v.strip() for value in values for v in value.split(b",")}
    if len(lengths) != 1:
        raise httpx.RemoteProtocolError("conflicting Content-Length", request=request)
    length = lengths.pop()
    if not length.isdigit():
        raise httpx.RemoteProtocolError("invalid Content-Length", request=request)
    return int(length)


def _read_exact(conn: _Conn, request: httpx.Request, n: int) -> bytes:
    buf = conn.buf
    while len(buf) < n:
        chunk = _recv(conn, request)
        if not chunk:
            raise httpx.RemoteProtocolError(
                f"peer closed connection without sending complete message body: "
                f"received {len(buf)} bytes, expected {n}",
                request=request,
            )
        buf += chunk
    body = bytes(buf[:n])
    del buf[:n]
    return body


def _read_line(conn: _Conn, request: httpx.Request) -> bytes:
    buf = conn.buf
    while (end := buf.find(b"\r\n")) < 0:
        if len(buf) > MAX_HEAD:
            raise httpx.RemoteProtocolError("chunk header too large", request=request)
        chunk = _recv(conn, request)
        if not chunk:
            raise httpx.RemoteProtocolError(
                "peer closed connection inside a chunk", request=request
            )
        buf += chunk
    line = bytes(buf[:end])
    del buf[: end + 2]
    return line


def _read_chunked(conn: _Conn, request: httpx.Request) -> bytes:
    """RFC 9112 s7.1: chunks, then trailer fields (read and dropped, as h11 does)."""
    parts: list[bytes] = []
    while True:
        size = _read_line(conn, request).split(b";", 1)[0].strip(b" \t")
        if not _HEX.fullmatch(size):
            raise httpx.RemoteProtocolError(f"invalid chunk size {size[:20]!r}", request=request)
        n = int(size, 16)
        if n == 0:
            while _read_line(conn, request):
                pass
            return b"".join(parts)
        parts.append(_read_exact(conn, request, n))
        if _read_exact(conn, request, 2) != b"\r\n":
            raise httpx.RemoteProtocolError("chunk not followed by CRLF", request=request)


def _read_to_close(conn: _Conn, request: httpx.Request) -> bytes:
    buf = conn.buf
    while chunk := _recv(conn, request):
        buf += chunk
    body = bytes(buf)
    buf.clear()
    return body
