"""outbound provisioning targets

Revision ID: 0018
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "provisioning_targets",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("token_ref", Json),
        sa.Column("token_sealed", sa.Text),
        sa.Column("group_id", sa.String(36)),
        sa.Column("delete_users", sa.Boolean, nullable=False),
        sa.Column("enabled", sa.Boolean, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("provisioning_targets")
