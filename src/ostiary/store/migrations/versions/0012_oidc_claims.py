"""oidc: the claims request parameter (OIDC Core 5.5) kept with codes and refresh tokens

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # Nullable, no default: existing rows simply requested no individual claims.
    op.add_column("oidc_auth_codes", sa.Column("claims", Json))
    op.add_column("oidc_refresh_tokens", sa.Column("claims", Json))


def downgrade() -> None:
    with op.batch_alter_table("oidc_refresh_tokens") as batch:
        batch.drop_column("claims")
    with op.batch_alter_table("oidc_auth_codes") as batch:
        batch.drop_column("claims")
