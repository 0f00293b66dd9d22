"""foundation: vault, directory, provisioning keys

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vault_data_keys",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("master_kid", sa.String(64), nullable=False),
        sa.Column("wrapped", sa.LargeBinary, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_table(
        "vault_secrets",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_name", sa.String(512), nullable=False),
        sa.Column("user_name_key", sa.String(512), nullable=False, unique=True),
        sa.Column("external_id", sa.String(512)),
        sa.Column("display_name", sa.String(512)),
        sa.Column("given_name", sa.String(256)),
        sa.Column("family_name", sa.String(256)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("doc", Json, nullable=False),
        sa.Column("password_hash", sa.String(256)),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_index("ix_users_external_id", "users", ["external_id"])
    op.create_table(
        "user_emails",
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("value", sa.String(512), nullable=False),
        sa.Column("value_key", sa.String(512), nullable=False),
        sa.Column("type", sa.String(64)),
        sa.Column("primary", sa.Boolean, nullable=False),
    )
    op.create_index("ix_user_emails_user_id", "user_emails", ["user_id"])
    op.create_index("ix_user_emails_value_key", "user_emails", ["value_key"])
    op.create_table(
        "groups",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("display_name", sa.String(512), nullable=False),
        sa.Column("display_name_key", sa.String(512), nullable=False),
        sa.Column("external_id", sa.String(512)),
        sa.Column("doc", Json, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
    )
    op.create_index("ix_groups_display_name_key", "groups", ["display_name_key"])
    op.create_index("ix_groups_external_id", "groups", ["external_id"])
    op.create_table(
        "group_members",
        sa.Column(
            "group_id",
            sa.String(36),
            sa.ForeignKey("groups.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("member_id", sa.String(36), primary_key=True),
        sa.Column("member_type", sa.String(8), nullable=False),
    )
    op.create_index("ix_group_members_member_id", "group_members", ["member_id"])
    op.create_table(
        "provisioning_keys",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("scopes", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sa.Column("disabled_at", Ts),
        sa.Column("revoked_at", Ts),
        sa.Column("last_used_at", Ts),
        sa.Column("last_used_ip", sa.String(64)),
        sa.Column("last_used_user_agent", sa.String(512)),
    )
    op.create_table(
        "provisioning_key_secrets",
        sa.Column(
            "key_id",
            sa.String(16),
            sa.ForeignKey("provisioning_keys.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("secret_hmac", sa.LargeBinary(32), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("not_after", Ts),
    )


def downgrade() -> None:
    for table in (
        "provisioning_key_secrets",
        "provisioning_keys",
        "group_members",
        "groups",
        "user_emails",
        "users",
        "vault_secrets",
        "vault_data_keys",
    ):
        op.drop_table(table)
