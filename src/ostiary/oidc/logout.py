"""Logout, the pure parts: OpenID Connect Back-Channel Logout 1.0 logout tokens,
RP-Initiated Logout 1.0 ``id_token_hint`` checks, and the client metadata both use.

Client metadata lives in a client's ``options``:

- ``backchannel_logout_uri`` (BCL 2.2): absolute, no fragment; https unless loopback;
- ``backchannel_logout_session_required`` (BCL 2.2): Ostiary always sends ``sid``;
- ``post_logout_redirect_uris`` (RP-Initiated Logout 3.1): compared exactly;
- ``allowed_groups``: group ids or displayNames whose members may use the client (empty:
  everyone), matched through nested groups (issue 7 point 1).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import Key

from ostiary.core import jose
from ostiary.oidc.clients import LOOPBACK, ClientError, validate_redirect_uri
from ostiary.oidc.id_token import ID_ALG, ID_ALGS

EVENT = "http://schemas.openid.net/event/backchannel-logout"
LOGOUT_TYP = "logout+jwt"  # BCL 2.4: explicit typing (RFC 8725 section 3.11)
LOGOUT_LIFETIME = 120  # seconds; BCL 2.4 recommends a short validity
OPTION_NAMES = (
    "backchannel_logout_uri",
    "backchannel_logout_session_required",
    "post_logout_redirect_uris",
    "allowed_groups",
)


def validate_backchannel_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if not parts.scheme or not parts.hostname or parts.fragment or "#" in uri:
        raise ClientError(f"backchannel_logout_uri {uri!r} must be absolute without a fragment")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        raise ClientError(f"backchannel_logout_uri {uri!r}: http only for loopback hosts")
    if parts.scheme not in {"http", "https"}:
        raise ClientError(f"backchannel_logout_uri {uri!r} must be http(s)")
    return uri


def _strings(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ClientError(f"{name} must be a list of non-empty strings")
    return list(dict.fromkeys(value))


def validate_options(options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with the logout and access entries checked; other entries untouched.
    A ``None`` value removes the entry."""
    out = {k: v for k, v in options.items() if v is not None}
    if "backchannel_logout_uri" in out:
        uri = out["backchannel_logout_uri"]
        if not isinstance(uri, str):
            raise ClientError("backchannel_logout_uri must be a string")
        validate_backchannel_uri(uri)
    required = out.get("backchannel_logout_session_required", False)
    if not isinstance(required, bool):
        raise ClientError("backchannel_logout_session_required must be a boolean")
    if "post_logout_redirect_uris" in out:
        uris = _strings("post_logout_redirect_uris", out["post_logout_redirect_uris"])
        out["post_logout_redirect_uris"] = [validate_redirect_uri(u) for u in uris]
    if "allowed_groups" in out:
        out["allowed_groups"] = _strings("allowed_groups", out["allowed_groups"])
    return out


def logout_claims(issuer: str, client_id: str, subject: str, sid: str, jti: str) -> dict[str, Any]:
    """The claims of one logout token except ``iat``/``exp``, which are set when it is
    signed (at each delivery attempt, so a retried token is not already expired).
    BCL 2.4: no ``nonce``; ``events`` holds the back-channel logout member."""
    return {
        "iss": issuer,
        "aud": client_id,
        "sub": subject,
        "sid": sid,
        "jti": jti,
        "events": {EVENT: {}},
    }


def logout_alg(options: dict[str, Any]) -> str:
    """BCL 2.4: a logout token is signed like an ID token for that client, so with its
    ``id_token_signed_response_alg`` (RS256 when unset or not one we sign with)."""
    alg = options.get("id_token_signed_response_alg")
    return alg if isinstance(alg, str) and alg in ID_ALGS else ID_ALG


def sign_logout_token(key: tuple[str, Key], alg: str, claims: dict[str, Any], now: int) -> str:
    kid, signer = key
    body = dict(claims) | {"iat": now, "exp": now + LOGOUT_LIFETIME}
    header = {"typ": LOGOUT_TYP, "alg": alg, "kid": kid}
    # The registry without joserfc's EdDSA warning, as for ID tokens (core/jose.py).
    return jwt.encode(header, body, signer, registry=jose.registry([alg]))


class InvalidHint(ClientError):
    """An ``id_token_hint`` that is not an ID token this OP issued."""


def verify_hint(
    token: str, issuer: str, key_for: Callable[[str], Key | None], algs: Iterable[str]
) -> dict[str, Any]:
    """The claims of an ID token signed by one of our published keys (RP-Initiated Logout
    2: an expired token is still a valid hint, so ``exp`` is not checked)."""
    try:
        header = jws.extract_compact(token.encode("ascii")).protected
    except (JoseError, ValueError, UnicodeError):
        raise InvalidHint("id_token_hint is not a JWT") from None
    kid = header.get("kid")
    key = key_for(kid) if isinstance(kid, str) else None
    # Our access tokens (at+jwt) and logout tokens are signed by the same keys: not hints.
    if header.get("typ", "JWT") != "JWT":
        raise InvalidHint("id_token_hint is not an ID token")
    if key is None or header.get("alg") not in set(algs):
        raise InvalidHint("id_token_hint was not signed by this OP")
    try:
        claims = dict(jwt.decode(token, key, registry=jose.registry([header["alg"]])).claims)
    except (JoseError, ValueError):
        raise InvalidHint("id_token_hint signature does not verify") from None
    if claims.get("iss") != issuer or not isinstance(claims.get("sub"), str):
        raise InvalidHint("id_token_hint was not issued by this OP")
    return claims


def hint_client(claims: dict[str, Any]) -> str | None:
    """The client an ID token was issued to: its single audience, else ``azp``."""
    aud = claims.get("aud")
    if isinstance(aud, str):
        return aud
    if isinstance(aud, list) and len(aud) == 1 and isinstance(aud[0], str):
        return aud[0]
    azp = claims.get("azp")
    return azp if isinstance(azp, str) else None


def may_use(options: dict[str, Any], groups: Iterable[tuple[str, str]]) -> bool:
    """Whether a user in ``groups`` ((id, displayName) pairs, nested ones included) may use
    a client with these options. displayNames compare case-insensitively, as SCIM does."""
    allowed = options.get("allowed_groups") or []
    if not allowed:
        return True
    wanted = {a.casefold() for a in allowed}
    return any(gid.casefold() in wanted or name.casefold() in wanted for gid, name in groups)
