"""OAuth/OIDC client registrations (issue 6 point 2): validation and secrets.

Redirect URIs are compared exactly (OAuth 2.0 Security BCP, RFC 9700 section 4.1.3), so
validation here is strict: absolute, no fragment, https unless the host is loopback (native
apps, RFC 8252 section 7.3) or a private-use scheme (RFC 8252 section 7.1).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ostiary.core.clock import as_utc
from ostiary.core.errors import OstiaryError

CONFIDENTIAL_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
)
SECRET_METHODS = frozenset({"client_secret_basic", "client_secret_post", "client_secret_jwt"})
GRANT_TYPES = frozenset({"authorization_code", "refresh_token", "client_credentials"})
LOOPBACK = frozenset({"127.0.0.1", "[::1]", "::1", "localhost"})
SECRET_PREFIX = "ost_cs_"
ID_TOKEN_ALGS = ("RS256", "ES256", "EdDSA")
# Per-client lifetimes (seconds), kept in ``options``. Access and ID tokens stay short:
# a retired signing key is published until MAX_TOKEN_LIFETIME after its last signature.
MAX_TOKEN_LIFETIME = 900
LIFETIME_BOUNDS = {
    "access_token_lifetime": (30, MAX_TOKEN_LIFETIME),
    "id_token_lifetime": (30, MAX_TOKEN_LIFETIME),
    "refresh_token_lifetime": (300, 365 * 86400),
}


class ClientError(OstiaryError):
    """A client registration breaks a rule; the message says which."""


@dataclass(frozen=True)
class ClientSecret:
    version: int
    secret: str = field(repr=False)
    last4: str
    created_at: datetime
    not_after: datetime | None = None

    def live(self, now: datetime) -> bool:
        return self.not_after is None or now < as_utc(self.not_after)


@dataclass(frozen=True)
class Client:
    id: str
    name: str
    client_type: str  # "confidential" | "public"
    auth_method: str  # one of CONFIDENTIAL_METHODS, or "none" for public clients
    redirect_uris: tuple[str, ...]
    grant_types: tuple[str, ...]
    scopes: tuple[str, ...]
    jwks: dict[str, Any] | None = None
    options: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
    updated_at: datetime | None = None
    secrets: tuple[ClientSecret, ...] = ()

    def summary(self) -> dict[str, Any]:
        current = max(self.secrets, key=lambda s: s.version) if self.secrets else None
        return {
            "client_id": self.id,
            "name": self.name,
            "client_type": self.client_type,
            "token_endpoint_auth_method": self.auth_method,
            "redirect_uris": list(self.redirect_uris),
            "grant_types": list(self.grant_types),
            "scopes": list(self.scopes),
            "jwks": self.jwks,
            "options": self.options,
            "secret_hint": f"...{current.last4}" if current else None,
            "secret_versions": [
                {
                    "version": s.version,
                    "not_after": s.not_after.isoformat() if s.not_after else None,
                }
                for s in self.secrets
            ],
        }

    @property
    def id_token_alg(self) -> str:
        return str(self.options.get("id_token_signed_response_alg", "RS256"))

    def lifetime(self, name: str, default: int) -> int:
        """A lifetime in seconds from the client's options, else ``default``."""
        value = self.options.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else default

    def live_secrets(self, now: datetime) -> list[str]:
        """Secrets that authenticate now (the newest, plus older ones in their overlap)."""
        return [s.secret for s in self.secrets if s.live(now)]

    def secret_matches(self, given: str, now: datetime) -> bool:
        """Constant time against every live version (old ones work during the overlap)."""
        matched = False
        for s in self.secrets:
            ok = hmac.compare_digest(given.encode(), s.secret.encode())
            matched |= ok and s.live(now)
        return matched


def validate_redirect_uri(uri: str) -> str:
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or "#" in uri:
        raise ClientError(f"redirect URI {uri!r} must be absolute and have no fragment")
    if parts.scheme == "http":
        if (parts.hostname or "") not in LOOPBACK:
            raise ClientError(f"redirect URI {uri!r}: http is allowed only for loopback hosts")
    elif parts.scheme == "https":
        if not parts.hostname:
            raise ClientError(f"redirect URI {uri!r} has no host")
    elif "." not in parts.scheme:
        # RFC 8252 section 7.1: private-use schemes are reverse domain names.
        raise ClientError(f"redirect URI {uri!r}: custom schemes must be reverse-DNS names")
    return uri


def validate_options(options: dict[str, Any]) -> dict[str, Any]:
    """The per-client settings: the ID token algorithm and token lifetimes."""
    alg = options.get("id_token_signed_response_alg")
    if alg is not None and alg not in ID_TOKEN_ALGS:
        raise ClientError(f"id_token_signed_response_alg must be one of {', '.join(ID_TOKEN_ALGS)}")
    for name, (low, high) in LIFETIME_BOUNDS.items():
        value = options.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ClientError(f"{name} must be a whole number of seconds from {low} to {high}")
    return options


def validate_jwks(jwks: dict[str, Any] | None) -> dict[str, Any] | None:
    """A registered JWK Set holds public keys only (a private member would be a leak)."""
    if jwks is None:
        return None
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not all(
        isinstance(k, dict) and not {"d", "k", "p", "q"} & k.keys() for k in keys
    ):
        raise ClientError("jwks must be a JWK Set of public keys")
    return jwks


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def build(
    *,
    client_id: str,
    name: str,
    client_type: str,
    auth_method: str | None,
    redirect_uris: list[str],
    grant_types: list[str],
    scopes: list[str],
    jwks: dict[str, Any] | None,
    now: datetime,
    options: dict[str, Any] | None = None,
) -> tuple[Client, str | None]:
    """A validated new client and its secret (shown once), if it uses one."""
    if not name.strip():
        raise ClientError("a client needs a name")
    if client_type not in {"confidential", "public"}:
        raise ClientError("client_type must be confidential or public")
    method = auth_method or ("none" if client_type == "public" else "client_secret_basic")
    if client_type == "public" and method != "none":
        raise ClientError("public clients cannot authenticate: their method is 'none'")
    if client_type == "confidential" and method not in CONFIDENTIAL_METHODS:
        raise ClientError(f"auth method must be one of {', '.join(CONFIDENTIAL_METHODS)}")
    if method == "private_key_jwt" and not (jwks and jwks.get("keys")):
        raise ClientError("private_key_jwt needs a registered JWK Set")
    validate_jwks(jwks)
    unknown = sorted(set(grant_types) - GRANT_TYPES)
    if unknown or not grant_types:
        raise ClientError(f"grant types must be among {', '.join(sorted(GRANT_TYPES))}")
    if client_type == "public" and "client_credentials" in grant_types:
        raise ClientError("a public client cannot use client_credentials")
    if "authorization_code" in grant_types and not redirect_uris:
        raise ClientError("the authorization code grant needs at least one redirect URI")
    uris = tuple(dict.fromkeys(validate_redirect_uri(u) for u in redirect_uris))
    secret = new_secret() if method in SECRET_METHODS else None
    stored = (ClientSecret(1, secret, secret[-4:], now),) if secret is not None else ()
    client = Client(
        id=client_id,
        name=name.strip(),
        client_type=client_type,
        auth_method=method,
        redirect_uris=uris,
        grant_types=tuple(grant_types),
        scopes=tuple(dict.fromkeys(scopes)),
        jwks=jwks,
        options=validate_options(dict(options or {})),
        created_at=now,
        updated_at=now,
        secrets=stored,
    )
    return client, secret


def rotate_secret(
    client: Client, now: datetime, overlap: timedelta
) -> tuple[ClientSecret, list[ClientSecret]]:
    """A new secret version, and the older live versions cut to end after ``overlap``."""
    if client.auth_method not in SECRET_METHODS:
        raise ClientError(f"a {client.auth_method} client has no secret to rotate")
    secret = new_secret()
    version = max((s.version for s in client.secrets), default=0) + 1
    ending = [
        ClientSecret(s.version, s.secret, s.last4, s.created_at, now + overlap)
        for s in client.secrets
        if s.live(now) and (s.not_after is None or as_utc(s.not_after) > now + overlap)
    ]
    return ClientSecret(version, secret, secret[-4:], now), ending
