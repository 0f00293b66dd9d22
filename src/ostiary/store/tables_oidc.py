"""OpenID Provider tables: signing keys, OAuth settings of provisioning keys, clients."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from ostiary.store.tables import Json, Ts, metadata

# Signing keys move next -> active -> retired; the private half is sealed by the vault
# (context ``signing_key:<kid>``) and never leaves this row in plaintext.
oidc_signing_keys = Table(
    "oidc_signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("state", String(16), nullable=False),
    Column("public_jwk", Json, nullable=False),
    Column("sealed_private", Text, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("activated_at", Ts),
    Column("retired_at", Ts),
    # A retired key stays in the JWKS until every token it signed has expired.
    Column("unpublish_at", Ts),
    Index("ix_oidc_signing_keys_state", "state"),
)

# What a provisioning key needs to act as an OAuth client (RFC 7523 keys, DPoP policy).
# Keyed by the provisioning key id; the keys area owns ``provisioning_keys`` itself.
oidc_key_credentials = Table(
    "oidc_key_credentials",
    metadata,
    Column(
        "key_id",
        String(16),
        ForeignKey("provisioning_keys.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("jwks", Json, nullable=False),
    Column("require_dpop", Boolean, nullable=False),
    Column("updated_at", Ts, nullable=False),
)

oidc_clients = Table(
    "oidc_clients",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("client_type", String(16), nullable=False),
    Column("auth_method", String(32), nullable=False),
    Column("redirect_uris", Json, nullable=False),
    Column("grant_types", Json, nullable=False),
    Column("scopes", Json, nullable=False),
    Column("jwks", Json),
    Column("options", Json, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
)

# Client secrets are sealed, not hashed: client_secret_jwt needs the secret as an HMAC key.
# Rotation adds a version; the previous one works until ``not_after`` (the overlap).
oidc_client_secrets = Table(
    "oidc_client_secrets",
    metadata,
    Column(
        "client_id",
        String(64),
        ForeignKey("oidc_clients.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("sealed", Text, nullable=False),
    Column("last4", String(4), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("not_after", Ts),
)

# Revoked JWT access tokens (RFC 7009), by jti, kept until the token would have expired.
oidc_revoked_tokens = Table(
    "oidc_revoked_tokens",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("client_id", String(64), nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("revoked_at", Ts, nullable=False),
    Index("ix_oidc_revoked_tokens_expires_at", "expires_at"),
    # Nodes re-read the rows revoked since their last load (web/oauth/revoked.py).
    Index("ix_oidc_revoked_tokens_revoked_at", "revoked_at"),
)

# Dynamic registration tokens (RFC 7591 initial access tokens, RFC 7592 registration
# access tokens), stored only as HMAC-SHA256 under the pepper.
oidc_registration_tokens = Table(
    "oidc_registration_tokens",
    metadata,
    Column("token_hmac", LargeBinary(32), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("client_id", String(64), ForeignKey("oidc_clients.id", ondelete="CASCADE")),
    Column("expires_at", Ts),
    Column("created_at", Ts, nullable=False),
)

# Server-side sign-in sessions. The cookie holds a random session id; only its SHA-256 is
# stored, so a database read does not yield usable cookies. ``sid`` is the public session
# id that ID tokens and logout tokens will carry (OIDC Front/Back-Channel Logout).
oidc_sessions = Table(
    "oidc_sessions",
    metadata,
    Column("id_hash", LargeBinary(32), primary_key=True),
    Column("sid", String(64), nullable=False, unique=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("auth_time", Ts, nullable=False),
    Column("amr", Json, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("ended_at", Ts),
    Index("ix_oidc_sessions_user_id", "user_id"),
)
