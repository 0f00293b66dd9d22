"""oidc: signing keys, provisioning-key OAuth credentials, clients

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oidc_signing_keys",
        sa.Column("kid", sa.String(64), primary_key=True),
        sa.Column("alg", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("public_jwk", Json, nullable=False),
        sa.Column("sealed_private", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("activated_at", Ts),
        sa.Column("retired_at", Ts),
        sa.Column("unpublish_at", Ts),
    )
    op.create_index("ix_oidc_signing_keys_state", "oidc_signing_keys", ["state"])
    op.create_table(
        "oidc_key_credentials",
        sa.Column(
            "key_id",
            sa.String(16),
            sa.ForeignKey("provisioning_keys.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("jwks", Json, nullable=False),
        sa.Column("require_dpop", sa.Boolean, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_table(
        "oidc_clients",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("client_type", sa.String(16), nullable=False),
        sa.Column("auth_method", sa.String(32), nullable=False),
        sa.Column("redirect_uris", Json, nullable=False),
        sa.Column("grant_types", Json, nullable=False),
        sa.Column("scopes", Json, nullable=False),
        sa.Column("jwks", Json),
        sa.Column("options", Json, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_table(
        "oidc_client_secrets",
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("oidc_clients.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("not_after", Ts),
    )
    op.create_table(
        "oidc_revoked_tokens",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sa.Column("revoked_at", Ts, nullable=False),
    )
    op.create_index("ix_oidc_revoked_tokens_expires_at", "oidc_revoked_tokens", ["expires_at"])
    op.create_table(
        "oidc_registration_tokens",
        sa.Column("token_hmac", sa.LargeBinary(32), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("oidc_clients.id", ondelete="CASCADE")),
        sa.Column("expires_at", Ts),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_table(
        "oidc_sessions",
        sa.Column("id_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("sid", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("auth_time", Ts, nullable=False),
        sa.Column("amr", Json, nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sa.Column("ended_at", Ts),
    )
    op.create_index("ix_oidc_sessions_user_id", "oidc_sessions", ["user_id"])


def downgrade() -> None:
    op.drop_table("oidc_sessions")
    op.drop_table("oidc_registration_tokens")
    op.drop_table("oidc_revoked_tokens")
    op.drop_table("oidc_client_secrets")
    op.drop_table("oidc_clients")
    op.drop_table("oidc_key_credentials")
    op.drop_table("oidc_signing_keys")
