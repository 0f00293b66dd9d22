"""A double for the outside world between the agent and a SCIM server: a threaded HTTP
proxy on 127.0.0.1 that can throttle (429 + Retry-After or RateLimit headers), fail
(503), slow down, record requests, and act as an OAuth token endpoint that issues
DPoP-bound tokens for private_key_jwt clients (RFC 7523, RFC 9449) and checks them."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
from joserfc import jwk, jwt

from tests.support.server import free_port


@dataclass
class Behaviour:
    throttle: int = 0  # the first N SCIM requests get 429
    retry_after: str = "1"
    ratelimit_zero: int = 0  # the first N responses say RateLimit remaining=0, reset=1
    fail: int = 0  # the first N SCIM requests get 503
    fail_path: str = ""  # set: only requests to this path count for ``fail``
    delay: float = 0.0
    client_jwk: dict[str, Any] | None = None  # set: require DPoP tokens from this client
    client_id: str = "sync-agent"
    require_nonce: bool = False
    upstream_token: str = ""
    log: list[tuple[str, str, dict[str, str], float]] = field(default_factory=list)
    bodies: list[tuple[str, str, bytes]] = field(default_factory=list)  # as log, with bodies
    tokens: dict[str, str] = field(default_factory=dict)  # access token -> jkt
    seen_jti: set[str] = field(default_factory=set)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Gateway:
    def __init__(self, upstream: str, behaviour: Behaviour | None = None):
        self.upstream = upstream.rstrip("/")
        self.b = behaviour or Behaviour()
        self.lock = threading.Lock()
        self.nonce = uuid.uuid4().hex
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.http = httpx.Client(timeout=60)

    @property
    def scim_url(self) -> str:
        return f"{self.base}/v2"

    @property
    def token_url(self) -> str:
        return f"{self.base}/token"

    def __enter__(self) -> Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.http.close()

    def requests(self, method: str | None = None) -> list[tuple[str, str, dict[str, str], float]]:
        return [r for r in self.b.log if method is None or r[0] == method]

    def bulk_batches(self) -> list[list[dict[str, Any]]]:
        """The distinct Bulk requests received, as their operations, in arrival order. The
        client retries a request after a transport error or a 5xx (sync/client.py) with the
        same bytes, so a retried batch counts once: a test of how work is split into
        batches must not depend on whether the loaded machine made one attempt fail."""
        seen = dict.fromkeys(b for m, p, b in self.b.bodies if m == "POST" and p == "/v2/Bulk")
        return [json.loads(body)["Operations"] for body in seen]

    # --- the checks a DPoP resource server makes (RFC 9449 s4.3, s7.1) ----------------

    def _check_proof(self, proof: str | None, method: str, url: str, token: str | None) -> str:
        if not proof:
            raise PermissionError("no DPoP proof")
        header = json.loads(base64.urlsafe_b64decode(proof.split(".")[0] + "=="))
        key = jwk.import_key(header["jwk"])
        decoded = jwt.decode(proof, key, algorithms=["ES256"])
        c = decoded.claims
        if decoded.header.get("typ") != "dpop+jwt" or c["htm"] != method or c["htu"] != url:
            raise PermissionError("proof does not match the request")
        if abs(time.time() - c["iat"]) > 60 or c["jti"] in self.b.seen_jti:
            raise PermissionError("stale or replayed proof")
        if token is not None and c.get("ath") != _b64(hashlib.sha256(token.encode()).digest()):
            raise PermissionError("ath does not match the token")
        if self.b.require_nonce and c.get("nonce") != self.nonce:
            raise LookupError("use_dpop_nonce")
        self.b.seen_jti.add(c["jti"])
        return key.thumbprint()

    def _token(self, h: BaseHTTPRequestHandler, body: bytes) -> tuple[int, dict[str, str], bytes]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        try:
            jkt = self._check_proof(h.headers.get("DPoP"), "POST", self.token_url, None)
        except LookupError:
            return 400, {"DPoP-Nonce": self.nonce}, b'{"error":"use_dpop_nonce"}'
        except Exception:
            return 400, {}, b'{"error":"invalid_dpop_proof"}'
        try:
            assert form.get("grant_type") == "client_credentials"
            assert form.get("client_assertion_type", "").endswith("jwt-bearer")
            claims = jwt.decode(
                form["client_assertion"], jwk.import_key(self.b.client_jwk or {})
            ).claims
            assert claims["iss"] == claims["sub"] == self.b.client_id
            assert claims["aud"] == self.token_url and claims["exp"] > time.time()
        except Exception:
            return 401, {}, b'{"error":"invalid_client"}'
        token = uuid.uuid4().hex
        self.b.tokens[token] = jkt
        doc = {"access_token": token, "token_type": "DPoP", "expires_in": 300}
        return 200, {}, json.dumps(doc).encode()

    def _authorise(
        self, h: BaseHTTPRequestHandler, method: str, url: str
    ) -> tuple[int, dict[str, str]] | None:
        scheme, _, token = (h.headers.get("Authorization") or "").partition(" ")
        if scheme != "DPoP" or token not in self.b.tokens:
            return 401, {"WWW-Authenticate": 'DPoP error="invalid_token"'}
        try:
            jkt = self._check_proof(h.headers.get("DPoP"), method, url, token)
        except LookupError:
            return 401, {
                "WWW-Authenticate": 'DPoP error="use_dpop_nonce"',
                "DPoP-Nonce": self.nonce,
            }
        except Exception:
            return 401, {"WWW-Authenticate": 'DPoP error="invalid_dpop_proof"'}
        if jkt != self.b.tokens[token]:
            return 401, {"WWW-Authenticate": 'DPoP error="invalid_token"'}
        return None

    # --- the proxy --------------------------------------------------------------------

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        if h.path == "/token":
            status, headers, out = self._token(h, body)
            return self._send(h, status, headers, out)
        with self.lock:
            self.b.log.append((method, h.path, dict(h.headers), time.monotonic()))
            self.b.bodies.append((method, h.path, body))
            throttle = self.b.throttle > 0
            self.b.throttle -= throttle
            fail = not throttle and self.b.fail > 0 and self.b.fail_path in ("", h.path)
            self.b.fail -= fail
            zero = self.b.ratelimit_zero > 0
            self.b.ratelimit_zero -= zero
        if throttle:
            return self._send(h, 429, {"Retry-After": self.b.retry_after}, b"")
        if fail:
            return self._send(h, 503, {}, b"")
        headers = {
            k: v
            for k, v in h.headers.items()
            if k.lower()
            not in (
                "host",
                "content-length",
                "authorization",
                "dpop",
                "connection",
                "accept-encoding",
            )
        }
        if self.b.client_jwk is not None:
            denied = self._authorise(h, method, f"{self.base}{h.path.split('?')[0]}")
            if denied:
                return self._send(h, denied[0], denied[1], b"")
        headers["Authorization"] = f"Bearer {self.b.upstream_token}"
        if self.b.delay:
            time.sleep(self.b.delay)
        resp = self.http.request(method, self.upstream + h.path, content=body, headers=headers)
        extra = {
            k: v
            for k, v in resp.headers.items()
            if k.lower() in ("content-type", "etag", "location")
        }
        if zero:
            extra["RateLimit"] = "limit=100, remaining=0, reset=1"
        self._send(h, resp.status_code, extra, resp.content)

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], body: bytes) -> None:
        h.send_response(status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                gateway._handle(self, "GET")

            def do_POST(self) -> None:
                gateway._handle(self, "POST")

            def do_PUT(self) -> None:
                gateway._handle(self, "PUT")

            def do_PATCH(self) -> None:
                gateway._handle(self, "PATCH")

            def do_DELETE(self) -> None:
                gateway._handle(self, "DELETE")

        return Handler
