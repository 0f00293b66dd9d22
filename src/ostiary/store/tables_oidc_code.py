"""Authorization codes (RFC 6749 section 4.1, OIDC Core 3.1): stored only as SHA-256."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String, Table, Text

from ostiary.store.tables import Json, Ts, metadata

# A code is single use: ``used_at`` is set by a conditional UPDATE, so two concurrent
# exchanges cannot both win. ``access_jti``/``access_exp`` name the access token issued
# from it, so a replayed code can revoke that token (RFC 6749 section 4.1.2).
oidc_auth_codes = Table(
    "oidc_auth_codes",
    metadata,
    Column("code_hash", LargeBinary(32), primary_key=True),
    Column(
        "client_id", String(64), ForeignKey("oidc_clients.id", ondelete="CASCADE"), nullable=False
    ),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("sid", String(64), nullable=False),
    Column("redirect_uri", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("nonce", Text),
    Column("code_challenge", String(128)),
    Column("auth_time", Ts, nullable=False),
    Column("amr", Json, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("used_at", Ts),
    Column("access_jti", String(64)),
    Column("access_exp", Ts),
    Column("grant_id", String(64)),
    # OIDC Core 5.5: the individual claims asked for, {"userinfo": [...], "id_token": [...]}.
    Column("claims", Json),
    Index("ix_oidc_auth_codes_expires_at", "expires_at"),
)

# Refresh tokens (RFC 6749 section 6, RFC 9700 section 4.14.2): only SHA-256 is stored.
# Every token of one sign-in shares ``grant_id``; rotation marks the old one ``used_at``,
# and presenting a used token after the grace window revokes the whole grant.
oidc_refresh_tokens = Table(
    "oidc_refresh_tokens",
    metadata,
    Column("token_hash", LargeBinary(32), primary_key=True),
    Column("grant_id", String(64), nullable=False),
    Column(
        "client_id", String(64), ForeignKey("oidc_clients.id", ondelete="CASCADE"), nullable=False
    ),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("sid", String(64), nullable=False),
    Column("scope", Text, nullable=False),
    Column("auth_time", Ts, nullable=False),
    Column("amr", Json, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("used_at", Ts),
    Column("revoked_at", Ts),
    Column("access_jti", String(64)),
    Column("access_exp", Ts),
    Column("claims", Json),
    Index("ix_oidc_refresh_tokens_grant_id", "grant_id"),
)

# Consent a user gave a client (OIDC Core 3.1.2.4): the scopes approved; asked again only
# for more scopes or with prompt=consent.
oidc_consents = Table(
    "oidc_consents",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column(
        "client_id", String(64), ForeignKey("oidc_clients.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("scopes", Json, nullable=False),
    Column("granted_at", Ts, nullable=False),
)
