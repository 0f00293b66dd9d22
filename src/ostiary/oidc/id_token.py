"""ID tokens (OIDC Core section 2, 3.1.3.6): RS256 by default, ES256 or EdDSA for a
client that registered ``id_token_signed_response_alg`` (OIDC Dynamic Registration 2)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from joserfc import jwk, jwt

from ostiary.core import jose
from ostiary.oidc import acr

ID_ALG = "RS256"
ID_ALGS = ("RS256", "ES256", "EdDSA")


def half_hash(value: str) -> str:
    """``at_hash``/``c_hash``: left half of SHA-256 of the ASCII value, base64url."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[: len(digest) // 2]).rstrip(b"=").decode("ascii")


def mint(
    *,
    key: tuple[str, jwk.Key],
    issuer: str,
    subject: str,
    client_id: str,
    now: int,
    lifetime: int,
    auth_time: int,
    sid: str,
    nonce: str | None,
    access_token: str | None,
    amr: list[str],
    extra: dict[str, Any] | None = None,
    alg: str = ID_ALG,
) -> str:
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": client_id,
        "azp": client_id,
        "exp": now + lifetime,
        "iat": now,
        "auth_time": auth_time,
        "sid": sid,
        "amr": amr,
        "acr": acr.of(amr),
    }
    if nonce is not None:
        claims["nonce"] = nonce
    if access_token is not None:
        claims["at_hash"] = half_hash(access_token)
    if extra:
        claims.update(extra)
    kid, signer = key
    header = {"typ": "JWT", "alg": alg, "kid": kid}
    return jwt.encode(header, claims, signer, registry=jose.registry([alg]))
