"""audit: store each event once (drop the `event` JSON column that repeated `entry`)

Revision ID: 0017
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    # `entry` (the hashed canonical JSON) is the event's only copy from here on; readers
    # decode it. SQLite 3.35+ drops a column in place; PostgreSQL's row triggers (the
    # append-only guard) do not fire on DDL.
    op.drop_column("audit_events", "event")


def downgrade() -> None:
    op.add_column("audit_events", sa.Column("event", Json, nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        # The append-only trigger refuses UPDATE; refilling the copy is not a rewrite.
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        op.execute("UPDATE audit_events SET event = CAST(entry AS jsonb)")
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    else:
        op.execute("UPDATE audit_events SET event = entry")
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("event", existing_type=Json, nullable=False)
