"""oidc code flow: authorization codes

Revision ID: 0011
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0011"
down_revision = "0007"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oidc_auth_codes",
        sa.Column("code_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("oidc_clients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("redirect_uri", sa.Text, nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("nonce", sa.Text),
        sa.Column("code_challenge", sa.String(128)),
        sa.Column("auth_time", Ts, nullable=False),
        sa.Column("amr", Json, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sa.Column("used_at", Ts),
        sa.Column("access_jti", sa.String(64)),
        sa.Column("access_exp", Ts),
        sa.Column("grant_id", sa.String(64)),
    )
    op.create_index("ix_oidc_auth_codes_expires_at", "oidc_auth_codes", ["expires_at"])
    op.create_table(
        "oidc_refresh_tokens",
        sa.Column("token_hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("grant_id", sa.String(64), nullable=False),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("oidc_clients.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("sid", sa.String(64), nullable=False),
        sa.Column("scope", sa.Text, nullable=False),
        sa.Column("auth_time", Ts, nullable=False),
        sa.Column("amr", Json, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sa.Column("used_at", Ts),
        sa.Column("revoked_at", Ts),
        sa.Column("access_jti", sa.String(64)),
        sa.Column("access_exp", Ts),
    )
    op.create_index("ix_oidc_refresh_tokens_grant_id", "oidc_refresh_tokens", ["grant_id"])
    op.create_table(
        "oidc_consents",
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("oidc_clients.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("scopes", Json, nullable=False),
        sa.Column("granted_at", Ts, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("oidc_consents")
    op.drop_index("ix_oidc_refresh_tokens_grant_id", table_name="oidc_refresh_tokens")
    op.drop_table("oidc_refresh_tokens")
    op.drop_index("ix_oidc_auth_codes_expires_at", table_name="oidc_auth_codes")
    op.drop_table("oidc_auth_codes")
