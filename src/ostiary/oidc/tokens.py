"""RFC 9068 JWT access tokens: claims and the checks a resource server makes."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from joserfc import jwk, jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from ostiary.oidc.errors import InvalidToken

AT_TYP = "at+jwt"
AT_ALG = "ES256"
LEEWAY = 5


@dataclass(frozen=True)
class AccessToken:
    token: str
    jti: str
    expires_in: int
    claims: dict[str, Any]


def mint(
    *,
    key: tuple[str, jwk.Key],
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scope: str,
    now: int,
    lifetime: int,
    jkt: str | None = None,
    extra: dict[str, Any] | None = None,
) -> AccessToken:
    """RFC 9068 section 2.2: iss, exp, aud, sub, client_id, iat, jti, and scope."""
    jti = secrets.token_urlsafe(16)
    claims: dict[str, Any] = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "client_id": client_id,
        "iat": now,
        "exp": now + lifetime,
        "jti": jti,
        "scope": scope,
    }
    if jkt is not None:
        claims["cnf"] = {"jkt": jkt}  # RFC 9449 section 6.1
    if extra:
        claims.update(extra)
    kid, signer = key
    token = _compact_es256({"typ": AT_TYP, "alg": AT_ALG, "kid": kid}, claims, signer)
    return AccessToken(token=token, jti=jti, expires_in=lifetime, claims=claims)


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _compact_es256(header: dict[str, Any], claims: dict[str, Any], signer: jwk.Key) -> str:
    """RFC 7515 compact serialisation with ES256 (RFC 7518 section 3.4: the signature is
    R || S, 32 bytes each), signed by cryptography directly: joserfc's generic path (claim
    conversion, registry look-ups) cost as much again as the signature, on every token."""
    private, encoded = _prepared(header, signer)
    if private is None:
        return jwt.encode(header, claims, signer)
    signing_input = encoded + _b64(orjson.dumps(claims))
    r, s = decode_dss_signature(private.sign(signing_input, _ECDSA_SHA256))
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return (signing_input + b"." + _b64(signature)).decode("ascii")


# The signing key's P-256 check and the encoded header ("<b64 header>.") are the same for
# every token a key signs: kept per (signer, header), replaced when either changes.
_PREPARED: dict[str, tuple[jwk.Key, bytes, ec.EllipticCurvePrivateKey | None, bytes]] = {}


def _prepared(header: dict[str, Any], signer: jwk.Key) -> tuple[Any, bytes]:
    raw_header = orjson.dumps(header)
    kid = str(header.get("kid"))
    hit = _PREPARED.get(kid)
    if hit is not None and hit[0] is signer and hit[1] == raw_header:
        return hit[2], hit[3]
    private = getattr(signer, "private_key", None)
    if not isinstance(private, ec.EllipticCurvePrivateKey) or private.curve.name != "secp256r1":
        private = None
    if len(_PREPARED) > 16:  # keys rotate rarely; never let old ones accumulate
        _PREPARED.clear()
    _PREPARED[kid] = (signer, raw_header, private, _b64(raw_header) + b".")
    return private, _PREPARED[kid][3]


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and not token.startswith("ost_pk_")


def verify(token: str, *, key_for: Any, issuer: str, audience: str, now: int) -> dict[str, Any]:
    """RFC 9068 section 4: typ at+jwt, our issuer, this audience, signature by a published
    key, unexpired. ``key_for(kid)`` returns the verification key or None."""
    try:
        header = extract_compact(token.encode("ascii")).protected
    except (JoseError, ValueError, UnicodeError):
        raise InvalidToken("the access token is malformed") from None
    if header.get("typ") != AT_TYP or header.get("alg") != AT_ALG:
        raise InvalidToken("not an RFC 9068 access token")
    key = key_for(header.get("kid"))
    if key is None:
        raise InvalidToken("the access token was signed by an unknown key")
    try:
        claims = dict(jwt.decode(token, key, algorithms=[AT_ALG]).claims)
    except (JoseError, ValueError):
        raise InvalidToken("the access token signature does not verify") from None
    if claims.get("iss") != issuer:
        raise InvalidToken("wrong issuer")
    aud = claims.get("aud")
    if audience not in (aud if isinstance(aud, list) else [aud]):
        raise InvalidToken("wrong audience")
    exp = claims.get("exp")
    if not isinstance(exp, int) or exp <= now - LEEWAY:
        raise InvalidToken("the access token has expired")
    return claims
