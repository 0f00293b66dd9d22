"""Authenticating to a SCIM target.

- :class:`BearerAuth`: a static token (an Ostiary provisioning key), RFC 6750.
- :class:`ClientCredentialsAuth`: OAuth 2.0 client_credentials (RFC 6749 s4.4) with
  ``private_key_jwt`` client authentication (RFC 7523 s2.2, OIDC Core s9) and, by default,
  DPoP-bound tokens (RFC 9449): every request carries a fresh proof signed by a per-process
  key, with ``ath`` (the token hash) and the server's ``DPoP-Nonce`` when it asks for one.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Generator
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from joserfc import jwk, jwt

from ostiary.core import jose
from ostiary.sync.errors import AuthError

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


class BearerAuth(httpx.Auth):
    def __init__(self, token: str):
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._header
        yield request


def load_private_key(text: str) -> jwk.Key:
    """A PEM private key, or a private JWK as JSON."""
    text = text.strip()
    try:
        if text.startswith("{"):
            return jwk.import_key(json.loads(text))
        return jwk.import_key(text.encode(), _pem_key_type(text.encode()))
    except (ValueError, TypeError) as exc:
        raise AuthError(f"the private key could not be loaded: {type(exc).__name__}") from None


def _pem_key_type(pem: bytes) -> Literal["RSA", "EC", "OKP"]:
    """joserfc wants the key type named; read it from the PEM rather than guess."""
    key = serialization.load_pem_private_key(pem, password=None)
    if isinstance(key, rsa.RSAPrivateKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return "EC"
    if isinstance(key, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey):
        return "OKP"
    raise ValueError("unsupported private key type")


def algorithm(key: jwk.Key) -> str:
    if key.key_type == "EC":
        return {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512"}[
            str(key.get("crv") or "P-256")
        ]
    if key.key_type == "OKP":
        return "EdDSA"
    return "RS256"


def _htu(url: httpx.URL | str) -> str:
    # RFC 9449 s4.2: the target URI without query and fragment.
    parts = urlsplit(str(url))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _now() -> int:
    return int(time.time())


class DPoPSigner:
    def __init__(self) -> None:
        self.key = jwk.ECKey.generate_key("P-256")
        self.public = self.key.as_dict(private=False)
        self.nonces: dict[str, str] = {}  # origin -> the last DPoP-Nonce it sent

    def proof(self, method: str, url: httpx.URL | str, token: str | None = None) -> str:
        origin = urlsplit(str(url)).netloc
        claims: dict[str, object] = {
            "jti": uuid.uuid4().hex,
            "htm": method,
            "htu": _htu(url),
            "iat": _now(),
        }
        if token:
            digest = hashlib.sha256(token.encode()).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        if origin in self.nonces:
            claims["nonce"] = self.nonces[origin]
        header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": self.public}
        return jwt.encode(header, claims, self.key, registry=jose.registry(["ES256"]))

    def remember(self, url: httpx.URL | str, resp: httpx.Response) -> bool:
        """Keep a server-provided nonce; True when the response asked us to retry with it."""
        nonce = resp.headers.get("dpop-nonce")
        if not nonce:
            return False
        self.nonces[urlsplit(str(url)).netloc] = nonce
        body_error = ""
        if resp.status_code == 400:
            try:
                body_error = resp.json().get("error", "")
            except ValueError:
                body_error = ""
        challenge = resp.headers.get("www-authenticate", "")
        return body_error == "use_dpop_nonce" or "use_dpop_nonce" in challenge


class ClientCredentialsAuth(httpx.Auth):
    def __init__(
        self,
        *,
        token_endpoint: str,
        client_id: str,
        private_key: str,
        dpop: bool = True,
        scope: str | None = None,
        timeout: float = 30.0,
    ):
        self.token_endpoint = token_endpoint
        self.client_id = client_id
        self.key = load_private_key(private_key)
        self.alg = algorithm(self.key)
        self.dpop = DPoPSigner() if dpop else None
        self.scope = scope
        self.http = httpx.Client(timeout=timeout)
        self._lock = threading.Lock()
        self._token: tuple[str, str, float] | None = None  # token, type, expires (monotonic)

    def close(self) -> None:
        self.http.close()

    def assertion(self) -> str:
        now = _now()
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_endpoint,
            "jti": uuid.uuid4().hex,
            "iat": now,
            "exp": now + 60,
        }
        # core.jose: an Ed25519 key's EdDSA signature without joserfc's deprecation warning.
        header = {"alg": self.alg, "typ": "JWT"}
        return jwt.encode(header, claims, self.key, registry=jose.registry([self.alg]))

    def _fetch(self) -> tuple[str, str, float]:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_assertion_type": ASSERTION_TYPE,
        }
        if self.scope:
            form["scope"] = self.scope
        for _ in range(2):  # a second try carries the nonce a DPoP server asked for
            form["client_assertion"] = self.assertion()  # jti must be fresh each time
            headers = {"DPoP": self.dpop.proof("POST", self.token_endpoint)} if self.dpop else {}
            resp = self.http.post(self.token_endpoint, data=form, headers=headers)
            if (
                resp.status_code == 400
                and self.dpop
                and self.dpop.remember(self.token_endpoint, resp)
            ):
                continue
            break
        if resp.status_code != 200:
            raise AuthError(
                f"token endpoint answered HTTP {resp.status_code}",
                status=resp.status_code,
                body=_json(resp),
            )
        doc = _json(resp) or {}
        token, kind = doc.get("access_token"), str(doc.get("token_type", "Bearer"))
        if not isinstance(token, str):
            raise AuthError("token endpoint returned no access_token")
        if self.dpop and kind.lower() != "dpop":
            raise AuthError(f"asked for a DPoP-bound token, got token_type {kind!r}")
        expires = doc.get("expires_in")
        lifetime = float(expires) if isinstance(expires, int | float | str) else 300.0
        # Renew a little early so a request never leaves with a token about to expire.
        return token, kind, time.monotonic() + max(1.0, lifetime - min(30.0, lifetime / 10))

    def token(self, refresh: bool = False) -> tuple[str, str]:
        with self._lock:
            if refresh or self._token is None or time.monotonic() >= self._token[2]:
                self._token = self._fetch()
            return self._token[0], self._token[1]

    def _sign(self, request: httpx.Request, token: str, kind: str) -> None:
        if self.dpop and kind.lower() == "dpop":
            request.headers["Authorization"] = f"DPoP {token}"
            request.headers["DPoP"] = self.dpop.proof(request.method, request.url, token)
        else:
            request.headers["Authorization"] = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        token, kind = self.token()
        self._sign(request, token, kind)
        response = yield request
        if response.status_code != 401:
            return
        if self.dpop and self.dpop.remember(request.url, response):
            self._sign(request, token, kind)  # RFC 9449 s9: retry with the nonce
        else:
            token, kind = self.token(refresh=True)  # expired or revoked: one fresh token
            self._sign(request, token, kind)
        yield request


def _json(resp: httpx.Response) -> dict[str, object] | None:
    try:
        doc = resp.json()
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None
