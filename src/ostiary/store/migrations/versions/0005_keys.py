"""provisioning key settings, admin tokens, approvals

Revision ID: 0005
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0005"
down_revision = "0002"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provisioning_key_settings",
        sa.Column(
            "key_id",
            sa.String(16),
            sa.ForeignKey(
                "provisioning_keys.id",
                ondelete="CASCADE",
                name="fk_provisioning_key_settings_key_id_provisioning_keys",
            ),
            primary_key=True,
        ),
        sa.Column("require_dpop", sa.Boolean, nullable=False),
        sa.Column("allowed_cidrs", Json, nullable=False),
        sa.Column("attributes", Json),
        sa.Column("rotate_every_seconds", sa.Integer),
        sa.Column("rotation_overlap_seconds", sa.Integer, nullable=False),
        sa.Column("delivery", Json),
        sa.Column("next_rotation_at", Ts),
        sa.Column("warnings_sent", Json, nullable=False),
        sa.Column("known_networks", Json, nullable=False),
    )
    op.create_table(
        "admin_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("scopes", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_by", sa.String(200)),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("expires_at", Ts, nullable=False),
        sa.Column("revoked_at", Ts),
        sa.Column("secret_hmac", sa.LargeBinary(32), nullable=False),
        sa.Column("last4", sa.String(4), nullable=False),
    )
    op.create_table(
        "key_approvals",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("key_id", sa.String(16)),
        sa.Column("payload", Json, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", Ts, nullable=False),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decided_at", Ts),
    )
    op.create_index("ix_key_approvals_status", "key_approvals", ["status", "requested_at"])


def downgrade() -> None:
    op.drop_table("key_approvals")
    op.drop_table("admin_tokens")
    op.drop_table("provisioning_key_settings")
