"""totp: second-factor credentials

Revision ID: 0014
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "user_totp",
        sa.Column(
            "user_id",
            sa.String(36),
            sa.ForeignKey("users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sealed", sa.Text, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("confirmed_at", Ts),
        sa.Column("last_step", sa.BigInteger),
    )


def downgrade() -> None:
    op.drop_table("user_totp")
