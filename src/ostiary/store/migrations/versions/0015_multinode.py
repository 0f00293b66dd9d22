"""resource owners; revocation set read by revoked_at

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0018"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "resource_owners",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("resource_id", sa.String(64), primary_key=True),
        sa.Column("owner_user_id", sa.String(36), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
    )
    op.create_index("ix_resource_owners_owner_user_id", "resource_owners", ["owner_user_id"])
    op.create_index("ix_oidc_revoked_tokens_revoked_at", "oidc_revoked_tokens", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_oidc_revoked_tokens_revoked_at", "oidc_revoked_tokens")
    op.drop_index("ix_resource_owners_owner_user_id", "resource_owners")
    op.drop_table("resource_owners")
