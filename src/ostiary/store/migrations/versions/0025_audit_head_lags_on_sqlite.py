"""audit (SQLite): the audit_head row moves once a search batch (no schema change)

Revision ID: 0025
Revises: 0024
"""

from __future__ import annotations

from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# From this revision on, SQLite's appender writes ``audit_head`` only when a search batch
# completes; between batches the newest event row is the head (store.repositories.audit,
# issue 5 point 6). A row that is up to date is also a valid lagging one, so upgrading
# changes nothing. Code before this revision reads the row as the exact head: downgrading
# brings it up to date from the newest event row. PostgreSQL's row is always up to date.
_SETTLE = (
    "UPDATE audit_head SET "
    "last_leaf = (SELECT leaf_hash FROM audit_events ORDER BY seq DESC LIMIT 1), "
    "size = (SELECT max(seq) + 1 FROM audit_events) "
    "WHERE id = 1 AND (SELECT max(seq) FROM audit_events) >= size"
)


def upgrade() -> None:
    pass


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute(_SETTLE)
