"""A test relying party that a browser can visit: a small HTTP server on a loopback port.

It does what a web application signing people in with OpenID Connect does, over real
HTTP: ``/start`` sends the browser to ``/authorize`` (code flow, PKCE S256, state, nonce);
``/cb`` checks ``state``, exchanges the code at ``/token`` with client_secret_basic and the
verifier, and verifies the ID token's signature against the published ``/jwks`` and its
``iss``, ``aud``, ``exp`` and ``nonce`` (OIDC Core 3.1.3.7); ``/signout`` sends the browser
to the provider's ``end_session_endpoint`` (RP-Initiated Logout 1.0) when discovery
names one, else to ``/logout``; ``/bye`` is where logout returns.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from tests.support.rp import pkce_pair


@dataclass
class RelyingParty:
    issuer: str
    client_id: str
    client_secret: str
    base: str = ""
    scope: str = "openid profile"
    pending: dict[str, tuple[str, str]] = field(default_factory=dict)  # state: nonce, verifier
    id_token: str | None = None
    claims: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    logout_via: str | None = None
    logout_state: str | None = None

    @property
    def redirect_uri(self) -> str:
        return f"{self.base}/cb"

    @property
    def post_logout_redirect_uri(self) -> str:
        return f"{self.base}/bye"

    def start_url(self) -> str:
        state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        verifier, challenge = pkce_pair()
        self.pending[state] = (nonce, verifier)
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.issuer}/authorize?{urlencode(query)}"

    def callback(self, query: dict[str, str]) -> str:
        if "error" in query:
            raise ValueError(f"authorization error: {query['error']}")
        nonce, verifier = self.pending.pop(query.get("state", ""))
        if query.get("iss") != self.issuer:  # RFC 9207
            raise ValueError("wrong iss in the authorization response")
        resp = httpx.post(
            f"{self.issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": query["code"],
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
            auth=(self.client_id, self.client_secret),
        )
        resp.raise_for_status()
        token = resp.json()["id_token"]
        self.claims = self._verify(token, nonce)
        self.id_token = token
        return str(self.claims["sub"])

    def _verify(self, token: str, nonce: str) -> dict[str, Any]:
        keys = KeySet.import_key_set(httpx.get(f"{self.issuer}/jwks").json())
        claims = dict(jwt.decode(token, keys, algorithms=["RS256"]).claims)
        now = time.time()
        if claims["iss"] != self.issuer or claims["aud"] != self.client_id:
            raise ValueError("ID token for another issuer or audience")
        if claims["exp"] <= now or claims.get("nonce") != nonce:
            raise ValueError("ID token expired or nonce mismatch")
        return claims

    def signout_url(self) -> str:
        doc = httpx.get(f"{self.issuer}/.well-known/openid-configuration").json()
        endpoint = doc.get("end_session_endpoint")
        if endpoint and self.id_token:
            self.logout_via = "end_session_endpoint"
            self.logout_state = secrets.token_urlsafe(8)
            query = {
                "id_token_hint": self.id_token,
                "post_logout_redirect_uri": self.post_logout_redirect_uri,
                "client_id": self.client_id,
                "state": self.logout_state,
            }
            return f"{endpoint}?{urlencode(query)}"
        self.logout_via = "/logout"
        return f"{self.issuer}/logout"


def _page(title: str, body: str) -> bytes:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"</head><body><main><h1>{title}</h1>{body}</main></body></html>"
    ).encode()


def _handler(rp: RelyingParty) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output for failures

        def _send(self, status: int, body: bytes = b"", location: str | None = None) -> None:
            self.send_response(status)
            if location:
                self.send_header("Location", location)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            try:
                if parts.path == "/start":
                    self._send(302, location=rp.start_url())
                elif parts.path == "/cb":
                    sub = rp.callback(query)
                    amr = " ".join(rp.claims.get("amr", []))
                    body = (
                        f'<p id="who">Signed in as {html.escape(sub)}</p>'
                        f'<p id="amr">amr: {html.escape(amr)}</p>'
                        '<p><a href="/signout">Sign out</a></p>'
                    )
                    self._send(200, _page("Test RP", body))
                elif parts.path == "/signout":
                    self._send(302, location=rp.signout_url())
                elif parts.path == "/bye":
                    if query.get("state") != rp.logout_state:  # RP-Initiated Logout 3
                        raise ValueError("logout state not echoed")
                    self._send(200, _page("Signed out of the test RP", ""))
                else:
                    self._send(404, _page("Not found", ""))
            except Exception as exc:  # the test asserts rp.errors is empty
                rp.errors.append(f"{parts.path}: {exc!r}")
                self._send(500, _page("RP error", f"<pre>{html.escape(repr(exc))}</pre>"))

    return Handler


@contextmanager
def relying_party(
    issuer: str, client_id: str, client_secret: str, port: int
) -> Iterator[RelyingParty]:
    rp = RelyingParty(issuer, client_id, client_secret, base=f"http://127.0.0.1:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(rp))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rp
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
