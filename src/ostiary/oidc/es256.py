"""A narrow fast path for verifying compact ES256 JWSs (RFC 7515, RFC 7518 section 3.4).

The token endpoint verifies two ES256 signatures per DPoP-bound token (the client
assertion and the DPoP proof). Through joserfc each one re-imported the JWK (building and
validating the EC point), walked the algorithm registry and decoded the parts with the
generic base64 helpers: about as much CPU again as the signature check itself.

Here, for the plain case only, the public key object for a JWK is built once and kept
(keyed by the key material itself, so it can never be stale), and the signature is
checked with cryptography directly. Anything outside the plain case (another algorithm,
another curve, extra header or JWK members such as ``crit``, ``b64``, ``key_ops``, an
oversized part, JSON that orjson reads differently) returns ``None`` and the caller takes
its joserfc path unchanged, so every input the fast path does not fully understand gets
exactly the old treatment.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
_SIG_B64_LEN = 86  # 64 bytes (R || S) in unpadded base64url
_MAX_PAYLOAD = 128_000  # joserfc's default payload cap, kept
# JWK members the fast path accepts; any other (key_ops, x5c, ...) goes to joserfc.
_PLAIN_JWK = frozenset({"kty", "crv", "x", "y", "kid", "alg", "use"})
_MAX_KEYS = 4096


@dataclass(frozen=True)
class PublicKey:
    key: ec.EllipticCurvePublicKey
    thumbprint: str  # RFC 7638 SHA-256, base64url


_keys: dict[tuple[str, str], PublicKey] = {}
_lock = threading.Lock()


def b64decode(segment: str) -> bytes:
    """Unpadded base64url, as lenient as joserfc's (the signature covers the text)."""
    data = segment.encode("ascii")
    return base64.urlsafe_b64decode(data + b"=" * (-len(data) % 4))


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_key(jwk: Any) -> PublicKey | None:
    """The P-256 public key of a plain JWK (cached), or None when it is not one."""
    if not isinstance(jwk, dict) or not jwk.keys() <= _PLAIN_JWK:
        return None
    x, y = jwk.get("x"), jwk.get("y")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    if not isinstance(x, str) or not isinstance(y, str) or len(x) != 43 or len(y) != 43:
        return None
    if jwk.get("use", "sig") != "sig" or jwk.get("alg", "ES256") != "ES256":
        return None
    if not isinstance(jwk.get("kid", ""), str):
        return None
    hit = _keys.get((x, y))
    if hit is not None:
        return hit
    try:
        point = b"\x04" + b64decode(x) + b64decode(y)
        key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (ValueError, binascii.Error, UnicodeError):
        return None  # not a point on the curve: joserfc reports it as it always did
    # RFC 7638 section 3.2: the required members only, lexicographic order, no spaces.
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'.encode("ascii")
    entry = PublicKey(key, b64encode(hashlib.sha256(canonical).digest()))
    with _lock:
        if len(_keys) >= _MAX_KEYS:
            _keys.clear()  # a flood of one-off keys cannot grow memory without bound
        _keys[(x, y)] = entry
    return entry


def parse(token: str, max_header: int, header_members: frozenset[str]) -> tuple[Any, ...] | None:
    """The decoded header, payload JSON, signing input and signature of a plain ES256
    compact JWS, or None when joserfc should decide."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    h64, p64, s64 = parts
    if len(h64) > max_header or len(p64) > _MAX_PAYLOAD or len(s64) != _SIG_B64_LEN:
        return None
    try:
        header = orjson.loads(b64decode(h64))
        claims = orjson.loads(b64decode(p64))
        signature = b64decode(s64)
    except (ValueError, binascii.Error, UnicodeError):
        return None
    if len(signature) != 64:
        return None
    if not isinstance(header, dict) or header.get("alg") != "ES256":
        return None
    if not header.keys() <= header_members or not isinstance(claims, dict):
        return None
    if any(isinstance(v, float) for v in claims.values()):
        return None  # orjson turns integers past 64 bits into floats; json keeps them
    return header, claims, f"{h64}.{p64}".encode("ascii"), signature


def verify(signing_input: bytes, signature: bytes, key: PublicKey) -> bool:
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    try:
        key.key.verify(encode_dss_signature(r, s), signing_input, _ECDSA_SHA256)
    except InvalidSignature:
        return False
    return True
