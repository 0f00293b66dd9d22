"""shared signals framework streams and SET queue

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

Json = sa.JSON().with_variant(JSONB(), "postgresql")
Ts = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ssf_streams",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner_key_id", sa.String(64), nullable=False),
        sa.Column("aud", sa.String(200), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("endpoint_url", sa.String(2048)),
        sa.Column("authorization_sealed", sa.Text),
        sa.Column("events_requested", Json, nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("updated_at", Ts, nullable=False),
        sa.Column("last_verification_at", Ts),
    )
    op.create_index("ix_ssf_streams_owner", "ssf_streams", ["owner_key_id"])
    op.create_table(
        "ssf_queue",
        sa.Column("jti", sa.String(64), primary_key=True),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.Column("err", sa.String(100)),
        sa.Column("description", sa.Text),
    )
    op.create_index("ix_ssf_queue_stream", "ssf_queue", ["stream_id", "status", "created_at"])
    op.create_table(
        "ssf_excluded_subjects",
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("subject_key", sa.String(64), nullable=False),
        sa.Column("subject", Json, nullable=False),
        sa.Column("created_at", Ts, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", "subject_key"),
    )


def downgrade() -> None:
    op.drop_table("ssf_excluded_subjects")
    op.drop_table("ssf_queue")
    op.drop_table("ssf_streams")
