"""DPoP proof verification (RFC 9449 section 4.3), with no HTTP framework in sight.

The caller passes the request method, its public URL, the DPoP header values, a replay
cache and (when nonces are required) a nonce source. Every failure raises the RFC's
error: ``invalid_dpop_proof``, or ``use_dpop_nonce`` carrying a fresh nonce.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

from joserfc import jwk, jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact

from ostiary.core import jose
from ostiary.oidc import es256
from ostiary.oidc.errors import InvalidDpopProof, UseDpopNonce

DPOP_ALGS = ("ES256", "ES384", "RS256", "PS256", "EdDSA")
PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
FUTURE_SKEW = 5  # seconds a client clock may run ahead
MAX_JTI = 256
# The protected header carries the public key (section 4.2): an RSA-4096 JWK encodes to
# about 1.4 KB, past joserfc's 512-byte default, which refused every RS256/PS256 proof.
MAX_HEADER = 2048
_FAST_HEADER = frozenset({"typ", "alg", "jwk"})


class ReplayCache(Protocol):
    def first_use(self, key: str, ttl_seconds: int) -> bool:
        """True the first time ``key`` is seen within ``ttl_seconds``, False after."""
        ...


class NonceSource(Protocol):
    def issue(self) -> str: ...

    def valid(self, nonce: str) -> bool: ...


@dataclass(frozen=True)
class Proof:
    jkt: str  # RFC 7638 SHA-256 thumbprint of the proof key
    jti: str


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ath(access_token: str) -> str:
    return b64url(hashlib.sha256(access_token.encode("ascii")).digest())


def normalize_htu(url: str) -> str:
    """Scheme and host lower-cased, default port dropped, query and fragment ignored
    (RFC 9449 section 4.3 check 9, RFC 3986 section 6.2.3)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    if port is not None and (scheme, port) not in {("http", 80), ("https", 443)}:
        host = f"{host}:{port}"
    return f"{scheme}://{host}{parts.path or '/'}"


def _header(token: str) -> dict[str, Any]:
    try:
        obj = extract_compact(token.encode("ascii"), registry=jose.registry(DPOP_ALGS, MAX_HEADER))
    except (JoseError, ValueError, UnicodeError):
        raise InvalidDpopProof("the DPoP proof is not a JWS") from None
    header: dict[str, Any] = dict(obj.protected)
    if header.get("typ") != "dpop+jwt":
        raise InvalidDpopProof("typ must be dpop+jwt")
    if header.get("alg") not in DPOP_ALGS:
        raise InvalidDpopProof("unsupported or missing alg")
    key = header.get("jwk")
    if not isinstance(key, dict) or PRIVATE_MEMBERS & key.keys():
        raise InvalidDpopProof("jwk must be a public key")
    return header


def _claims(token: str, header: dict[str, Any]) -> tuple[dict[str, Any], str]:
    try:
        key = jwk.import_key(header["jwk"])
        # jose.registry: EdDSA (advertised) without joserfc's deprecation warning.
        registry = jose.registry([header["alg"]], MAX_HEADER)
        claims = dict(jwt.decode(token, key, registry=registry).claims)
    except (JoseError, ValueError, TypeError, KeyError, json.JSONDecodeError):
        raise InvalidDpopProof("the DPoP proof signature does not verify") from None
    return claims, key.thumbprint()


def _fast(token: str) -> tuple[dict[str, Any], str] | None:
    """An ES256 proof over a plain P-256 key: the same checks in the same order, with the
    key object kept per key (see ``es256``); None hands the proof to joserfc."""
    parsed = es256.parse(token, MAX_HEADER, _FAST_HEADER)
    if parsed is None:
        return None
    header, claims, signing_input, signature = parsed
    key = es256.public_key(header.get("jwk"))
    if key is None:
        return None
    if header.get("typ") != "dpop+jwt":
        raise InvalidDpopProof("typ must be dpop+jwt")
    if not es256.verify(signing_input, signature, key):
        raise InvalidDpopProof("the DPoP proof signature does not verify")
    return claims, key.thumbprint


def verify_proof(
    values: list[str],
    *,
    method: str,
    url: str,
    now: int,
    max_age: int,
    replay: ReplayCache,
    nonces: NonceSource | None = None,
    access_token: str | None = None,
) -> Proof:
    if len(values) != 1:
        raise InvalidDpopProof("exactly one DPoP header is required")
    token = values[0].strip()
    fast = _fast(token)
    if fast is None:
        claims, jkt = _claims(token, _header(token))
    else:
        claims, jkt = fast
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti or len(jti) > MAX_JTI:
        raise InvalidDpopProof("jti is missing")
    if claims.get("htm") != method:
        raise InvalidDpopProof("htm does not match the request method")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalize_htu(htu) != normalize_htu(url):
        raise InvalidDpopProof("htu does not match the request URL")
    iat = claims.get("iat")
    if not isinstance(iat, int | float) or isinstance(iat, bool):
        raise InvalidDpopProof("iat is missing")
    if iat < now - max_age or iat > now + FUTURE_SKEW:
        raise InvalidDpopProof("iat is outside the acceptable window")
    if access_token is not None and not _same(claims.get("ath"), ath(access_token)):
        raise InvalidDpopProof("ath does not match the access token")
    if nonces is not None:
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not nonces.valid(nonce):
            raise UseDpopNonce(
                "the authorization server requires a DPoP nonce",
                headers={"DPoP-Nonce": nonces.issue()},
            )
    # Last, so a proof rejected for another reason does not burn its jti.
    digest = hashlib.sha256(f"{jkt}\x00{jti}".encode()).hexdigest()
    if not replay.first_use(f"dpop:{digest}", max_age + FUTURE_SKEW + 1):
        raise InvalidDpopProof("the DPoP proof was already used")
    return Proof(jkt=jkt, jti=jti)


def _same(given: object, expected: str) -> bool:
    return isinstance(given, str) and hmac.compare_digest(given.encode(), expected.encode())


class HmacNonces:
    """Stateless server nonces (RFC 9449 section 8): ``<window>.<mac>``, valid for the
    current and the previous window, so every node sharing the secret accepts them."""

    def __init__(self, secret: bytes, clock_seconds: Any, window: int = 300) -> None:
        self._secret = secret
        self._now = clock_seconds
        self._window = window

    def _mac(self, window: int) -> str:
        mac = hmac.new(self._secret, str(window).encode(), hashlib.sha256).digest()
        return b64url(mac[:18])

    def issue(self) -> str:
        window = int(self._now()) // self._window
        return f"{window}.{self._mac(window)}"

    def valid(self, nonce: str) -> bool:
        window_text, _, mac = nonce.partition(".")
        if not window_text.isdigit() or len(window_text) > 12:
            return False
        window = int(window_text)
        current = int(self._now()) // self._window
        if window not in {current, current - 1}:
            return False
        return hmac.compare_digest(mac.encode(), self._mac(window).encode())
