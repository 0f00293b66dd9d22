"""audit (SQLite): the audit_head row moves once a search batch; a trigger keeps every
new event at the next position of the log

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
# completes; between batches the newest event row is the head, and the appender places
# events after the head this process last committed without reading it
# (store.repositories.audit, issue 5 point 6). The trigger refuses an event that is not
# at the next position: the head, as the appender reads it, is the newest event row's
# position + 1 or the row's size, whichever is larger. PostgreSQL is unchanged: its
# appenders queue on the head row's lock and move it with every event.
_TRIGGER = """
CREATE TRIGGER audit_events_extend_the_head BEFORE INSERT ON audit_events
WHEN NEW.seq IS NOT max(
    coalesce((SELECT max(seq) FROM audit_events) + 1, 0),
    (SELECT size FROM audit_head WHERE id = 1)
)
BEGIN
    SELECT RAISE(ABORT, 'audit_events: an event must take the next position of the log');
END
"""
# Code before this revision reads the row as the exact head: downgrading brings it up to
# date from the newest event row (a row that is up to date is also a valid lagging one,
# so upgrading needs no such step).
_SETTLE = (
    "UPDATE audit_head SET "
    "last_leaf = (SELECT leaf_hash FROM audit_events ORDER BY seq DESC LIMIT 1), "
    "size = (SELECT max(seq) + 1 FROM audit_events) "
    "WHERE id = 1 AND (SELECT max(seq) FROM audit_events) >= size"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute(_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.execute("DROP TRIGGER audit_events_extend_the_head")
        op.execute(_SETTLE)
