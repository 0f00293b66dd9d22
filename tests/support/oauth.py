"""Client-side OAuth pieces for tests, built with joserfc like a real client would."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any
from urllib.parse import quote

from joserfc import jwk, jwt

from ostiary.core import jose

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def ec_key() -> jwk.ECKey:
    return jwk.ECKey.generate_key("P-256", auto_kid=True)


def basic(client_id: str, secret: str) -> dict[str, str]:
    raw = f"{quote(client_id, safe='')}:{quote(secret, safe='')}".encode()
    return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


def ath(token: str) -> str:
    digest = hashlib.sha256(token.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def dpop_proof(
    key: jwk.Key,
    htm: str,
    htu: str,
    *,
    iat: int | None = None,
    jti: str | None = None,
    access_token: str | None = None,
    nonce: str | None = None,
    typ: str = "dpop+jwt",
    alg: str = "ES256",
    extra_header: dict[str, Any] | None = None,
) -> str:
    header = {"typ": typ, "alg": alg, "jwk": key.as_dict(private=False)}
    header.update(extra_header or {})
    claims: dict[str, Any] = {
        "jti": secrets.token_urlsafe(12) if jti is None else jti,
        "htm": htm,
        "htu": htu,
        "iat": int(time.time()) if iat is None else iat,
    }
    if access_token is not None:
        claims["ath"] = ath(access_token)
    if nonce is not None:
        claims["nonce"] = nonce
    return jwt.encode(header, claims, key, registry=jose.registry([alg]))


def client_assertion(
    key: jwk.Key,
    client_id: str,
    audience: str,
    *,
    now: int | None = None,
    lifetime: int = 60,
    jti: str | None = None,
    **overrides: Any,
) -> str:
    now = int(time.time()) if now is None else now
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": secrets.token_urlsafe(12) if jti is None else jti,
    }
    claims.update(overrides)
    return jwt.encode({"alg": "ES256", "kid": key.kid}, claims, key)


def assertion_form(assertion: str, **extra: str) -> dict[str, str]:
    return {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        **extra,
    }
