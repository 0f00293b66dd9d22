"""Getting audit data out: a witness file, HMAC-signed webhooks, syslog over TCP/TLS.

A signed request carries ``X-Ostiary-Timestamp`` (unix seconds) and
``X-Ostiary-Signature: v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>``, so the
receiver can check origin and freshness (the same shape as Stripe's and Slack's hooks).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import ssl
import time
from collections.abc import Sequence
from pathlib import Path

import httpx
import orjson

from ostiary.audit.checkpoint import Checkpoint
from ostiary.audit.errors import AuditError
from ostiary.audit.syslog import frame

TIMEOUT = 10.0
CLOSE_WAIT = 2.0


class DeliveryFailed(AuditError):
    """A sink or witness did not accept what was sent; the sender will retry."""


def sign_body(secret: bytes, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={mac}"


def check_signature(secret: bytes, timestamp: str, body: bytes, header: str) -> bool:
    """For receivers (and tests): constant-time check of a signed body."""
    expected = sign_body(secret, int(timestamp), body)
    return hmac.compare_digest(expected.encode(), header.encode())


def post_signed(url: str, secret: bytes, body: bytes, kind: str) -> None:
    ts = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "X-Ostiary-Event": kind,
        "X-Ostiary-Timestamp": str(ts),
        "X-Ostiary-Signature": sign_body(secret, ts, body),
    }
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=TIMEOUT)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{url}: {type(exc).__name__}") from None
    if response.status_code >= 300:
        raise DeliveryFailed(f"{url} answered {response.status_code}")


def append_witness(path: Path, checkpoint: Checkpoint) -> None:
    """Append one JSON line and fsync: the file is only ever appended to."""
    line = orjson.dumps(checkpoint.as_dict()) + b"\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def read_witness(path: Path) -> list[Checkpoint]:
    out = []
    for number, line in enumerate(path.read_bytes().splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(Checkpoint.from_dict(orjson.loads(line)))
        except (orjson.JSONDecodeError, AuditError) as exc:
            raise AuditError(f"{path}:{number}: not a checkpoint ({exc})") from None
    return out


def send_syslog(
    address: str, messages: Sequence[bytes], *, tls: bool = False, ca_file: str | None = None
) -> None:
    """Send RFC 5424 messages over one TCP (optionally TLS, RFC 5425) connection."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
            sock: socket.socket = raw
            if tls:
                context = ssl.create_default_context(cafile=ca_file)
                sock = context.wrap_socket(raw, server_hostname=host)
            sock.sendall(b"".join(frame(m) for m in messages))
            _close_gracefully(sock)
    except (OSError, ValueError) as exc:
        raise DeliveryFailed(f"syslog {address}: {exc}") from None


def _close_gracefully(sock: socket.socket) -> None:
    """Half-close and wait for the receiver to close too, so the bytes were read before
    the cursor moves (syslog has no acknowledgement; this is the closest TCP offers)."""
    try:
        if isinstance(sock, ssl.SSLSocket):
            sock.unwrap()
        else:
            sock.shutdown(socket.SHUT_WR)
        sock.settimeout(CLOSE_WAIT)
        while sock.recv(4096):
            pass
    except OSError:
        pass  # the data was sent; a receiver that does not close cleanly is still fine
    finally:
        sock.close()
