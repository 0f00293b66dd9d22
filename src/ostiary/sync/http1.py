"""HTTP/1.1 on one socket for the sync agent's lean transport (``sync.transport``): a
request's head, and a response read whole, its head parsed in one pass and its body framed
by Content-Length, chunked coding or the close of the connection (RFC 9112 s6.3)."""

from __future__ import annotations

import contextlib
import re
import select
import socket
import ssl

import httpx

MAX_HEAD = 64 * 1024  # bytes of a response head (h11's default is 16 KiB)
RECV = 256 * 1024  # bytes asked of the socket per read
# A header name is a token (RFC 9110 s5.6.2); values carry no control characters but
# HTAB (s5.5): a CR or LF would let a value inject headers.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_BAD_VALUE = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_NAMES: set[bytes] = set()  # header names already found to be tokens
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_NO_BODY = {204, 304}


class Conn:
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


def request_head(request: httpx.Request) -> bytes:
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


def _recv(conn: Conn, request: httpx.Request) -> bytes:
    try:
        return conn.sock.recv(RECV)
    except TimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "read timed out", request=request) from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc), request=request) from exc


def read_response(conn: Conn, request: httpx.Request) -> tuple[httpx.Response, bool]:
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
    conn: Conn, request: httpx.Request
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


def _read_exact(conn: Conn, request: httpx.Request, n: int) -> bytes:
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


def _read_line(conn: Conn, request: httpx.Request) -> bytes:
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


def _read_chunked(conn: Conn, request: httpx.Request) -> bytes:
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


def _read_to_close(conn: Conn, request: httpx.Request) -> bytes:
    buf = conn.buf
    while chunk := _recv(conn, request):
        buf += chunk
    body = bytes(buf)
    buf.clear()
    return body
