"""A real SSF receiver on 127.0.0.1 for tests: it verifies every pushed SET the way a
receiver must (RFC 8417 section 4, RFC 8935 section 2, SSF 1.0 section 4.1) against the
transmitter's published JWKS, answers 202 or a 400 {err, description}, and records."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet


class SetRejected(Exception):
    def __init__(self, err: str, description: str) -> None:
        super().__init__(f"{err}: {description}")
        self.err, self.description = err, description


@dataclass(frozen=True)
class VerifiedSet:
    header: dict[str, Any]
    claims: dict[str, Any]
    token: str

    @property
    def event_type(self) -> str:
        [uri] = self.claims["events"]
        return str(uri)

    @property
    def event(self) -> dict[str, Any]:
        return dict(self.claims["events"][self.event_type])


def verify_set(token: str, jwks: dict[str, Any], issuer: str, audience: str) -> VerifiedSet:
    """Everything a receiver checks before trusting a SET."""
    try:
        decoded = jwt.decode(token, KeySet.import_key_set(jwks), algorithms=["ES256"])
    except (JoseError, ValueError) as exc:
        raise SetRejected("invalid_key", f"signature does not verify: {exc}") from None
    header, claims = dict(decoded.header), dict(decoded.claims)
    if header.get("typ") != "secevent+jwt":
        raise SetRejected("invalid_request", "typ must be secevent+jwt")
    if claims.get("iss") != issuer:
        raise SetRejected("invalid_issuer", f"unexpected iss {claims.get('iss')!r}")
    aud = claims.get("aud")
    if audience != aud and not (isinstance(aud, list) and audience in aud):
        raise SetRejected("invalid_audience", f"unexpected aud {aud!r}")
    if "sub" in claims or "exp" in claims:
        raise SetRejected("invalid_request", "SSF SETs carry neither sub nor exp")
    events = claims.get("events")
    if not isinstance(events, dict) or len(events) != 1:
        raise SetRejected("invalid_request", "exactly one event expected")
    if not isinstance(claims.get("jti"), str) or not isinstance(claims.get("iat"), int):
        raise SetRejected("invalid_request", "jti and iat are required")
    if not isinstance(claims.get("sub_id"), dict) or "format" not in claims["sub_id"]:
        raise SetRejected("invalid_request", "sub_id is required")
    return VerifiedSet(header, claims, token)


@dataclass
class SetReceiver:
    url: str
    jwks: dict[str, Any]
    issuer: str
    audience: str = ""  # the stream's aud, known once the stream exists
    authorization: str | None = None  # what the receiver requires, if anything
    accepted: list[VerifiedSet] = field(default_factory=list)
    rejected: list[SetRejected] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)  # forced answers first, in order

    def wait_for(self, count: int, timeout: float = 10.0) -> list[VerifiedSet]:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.accepted)

    def answer(self, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str] | None]:
        if self.statuses:
            return self.statuses.pop(0), None
        if self.authorization is not None and headers.get("authorization") != self.authorization:
            return 401, {"err": "authentication_failed", "description": "bad credentials"}
        if headers.get("content-type") != "application/secevent+jwt":
            return 400, {"err": "invalid_request", "description": "not a SET"}
        try:
            verified = verify_set(body.decode(), self.jwks, self.issuer, self.audience)
        except SetRejected as exc:
            self.rejected.append(exc)
            return 400, {"err": exc.err, "description": exc.description}
        self.accepted.append(verified)
        return 202, None


@contextmanager
def set_receiver(jwks: dict[str, Any], issuer: str, **options: Any) -> Iterator[SetReceiver]:
    state: SetReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, error = state.answer(headers, body)
            payload = orjson.dumps(error) if error else b""
            self.send_response(status)
            if error:
                self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *_args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    url = f"http://127.0.0.1:{server.server_address[1]}/events"
    state = SetReceiver(url=url, jwks=jwks, issuer=issuer, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
