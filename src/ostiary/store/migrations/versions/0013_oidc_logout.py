"""oidc logout: the clients each session has issued tokens to

Revision ID: 0013
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "oidc_session_clients",
        sa.Column("sid", sa.String(64), primary_key=True),
        sa.Column(
            "client_id",
            sa.String(64),
            sa.ForeignKey("oidc_clients.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", sa.String(36), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("first_at", Ts, nullable=False),
    )
    op.create_index("ix_oidc_session_clients_user_id", "oidc_session_clients", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_oidc_session_clients_user_id", "oidc_session_clients")
    op.drop_table("oidc_session_clients")
