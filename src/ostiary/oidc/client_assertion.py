"""JWT client authentication (RFC 7523 sections 2.2 and 3, OIDC Core section 9): a JWT
signed by the client's registered key (``private_key_jwt``) or with HMAC under its client
secret (``client_secret_jwt``), single use, short-lived."""

from __future__ import annotations

import binascii
import hashlib
import json
from typing import Any

import orjson
from joserfc import jwk, jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from ostiary.core import jose
from ostiary.oidc import es256
from ostiary.oidc.dpop import ReplayCache
from ostiary.oidc.errors import InvalidClient

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ("ES256", "ES384", "RS256", "PS256", "EdDSA")
SECRET_ASSERTION_ALGS = ("HS256",)
SKEW = 30
_FAST_HEADER = frozenset({"alg", "typ", "kid"})
_MAX_HEADER = 512  # joserfc's default, which the general path applies


def _payload(assertion: str) -> Any:
    parts = assertion.split(".")
    if len(parts) == 3 and len(parts[0]) <= _MAX_HEADER:
        try:  # the common case without joserfc's registry walk; it decides the rest
            return orjson.loads(es256.b64decode(parts[1]))
        except (ValueError, binascii.Error, UnicodeError):
            pass
    return json.loads(extract_compact(assertion.encode("ascii")).payload)


def unverified_subject(assertion: str) -> str:
    """The client id the assertion claims, to find its keys before verifying it."""
    try:
        payload = _payload(assertion)
    except (JoseError, ValueError, UnicodeError):
        raise InvalidClient("the client assertion is not a JWS") from None
    sub = payload.get("sub") if isinstance(payload, dict) else None
    if not isinstance(sub, str) or not sub:
        raise InvalidClient("the client assertion has no sub")
    return sub


def _keys(jwks: dict[str, Any]) -> jwk.KeySet | jwk.Key:
    # A single registered key needs no kid in the assertion header.
    members = jwks.get("keys") or []
    if len(members) == 1:
        return jwk.import_key(members[0])
    return jwk.KeySet.import_key_set(jwks)  # type: ignore[arg-type]


def verify_assertion(
    assertion: str,
    *,
    client_id: str,
    jwks: dict[str, Any],
    audiences: set[str],
    now: int,
    max_lifetime: int,
    replay: ReplayCache,
) -> dict[str, Any]:
    """``private_key_jwt``: signed by a key of the client's registered JWK Set."""
    claims = _fast(assertion, jwks)
    if claims is None:
        try:
            keys = _keys(jwks)
            decoded = jwt.decode(assertion, keys, registry=jose.registry(ASSERTION_ALGS))
            claims = dict(decoded.claims)
        except (JoseError, ValueError, TypeError, KeyError):
            raise InvalidClient("the client assertion signature does not verify") from None
    return check_claims(claims, client_id, audiences, now, max_lifetime, replay)


def _fast(assertion: str, jwks: dict[str, Any]) -> dict[str, Any] | None:
    """ES256 under a single registered plain P-256 key, checked with the cached key object
    (``es256``); None leaves the assertion to joserfc, which decides as before."""
    members = jwks.get("keys") or []
    if len(members) != 1:
        return None
    key = es256.public_key(members[0])
    if key is None:
        return None
    parsed = es256.parse(assertion, _MAX_HEADER, _FAST_HEADER)
    if parsed is None:
        return None
    header, claims, signing_input, signature = parsed
    if not all(isinstance(header.get(name, ""), str) for name in ("typ", "kid")):
        return None
    if not es256.verify(signing_input, signature, key):
        raise InvalidClient("the client assertion signature does not verify")
    return dict(claims)


def verify_secret_assertion(
    assertion: str,
    *,
    client_id: str,
    secrets: list[str],
    audiences: set[str],
    now: int,
    max_lifetime: int,
    replay: ReplayCache,
) -> dict[str, Any]:
    """``client_secret_jwt`` (OIDC Core section 9): HS256 under one of the client's live
    secrets (several during a rotation overlap). Every secret is tried, so the time taken
    does not say which one matched."""
    found: dict[str, Any] | None = None
    for secret in secrets:
        key = jwk.OctKey.import_key(secret.encode())
        try:
            decoded = jwt.decode(assertion, key, algorithms=list(SECRET_ASSERTION_ALGS))
        except (JoseError, ValueError, TypeError, KeyError):
            continue
        found = found or dict(decoded.claims)
    if found is None:
        raise InvalidClient("the client assertion signature does not verify")
    return check_claims(found, client_id, audiences, now, max_lifetime, replay)


def check_claims(
    claims: dict[str, Any],
    client_id: str,
    audiences: set[str],
    now: int,
    max_lifetime: int,
    replay: ReplayCache,
) -> dict[str, Any]:
    """RFC 7523 section 3: iss = sub = client id, aud names us, exp bounded, jti once."""
    if claims.get("iss") != client_id or claims.get("sub") != client_id:
        raise InvalidClient("iss and sub must both be the client id")
    aud = claims.get("aud")
    auds = {a for a in (aud if isinstance(aud, list) else [aud]) if isinstance(a, str)}
    if not auds & audiences:
        raise InvalidClient("aud must be the issuer or the token endpoint")
    exp = claims.get("exp")
    if not isinstance(exp, int) or isinstance(exp, bool):
        raise InvalidClient("exp is required")
    if exp <= now - SKEW:
        raise InvalidClient("the client assertion has expired")
    if exp > now + max_lifetime + SKEW:
        raise InvalidClient(f"exp may be at most {max_lifetime} seconds ahead")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > 256:
        raise InvalidClient("jti is required")
    digest = hashlib.sha256(f"{client_id}\x00{jti}".encode()).hexdigest()
    if not replay.first_use(f"cajti:{digest}", max(exp - now, 0) + SKEW + 1):
        raise InvalidClient("the client assertion was already used")
    return claims
