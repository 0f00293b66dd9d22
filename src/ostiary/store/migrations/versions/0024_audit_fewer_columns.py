"""audit: drop the five event columns nothing reads (outcome, actor_kind, target_type,
request_id, source_ip)

Revision ID: 0024
Revises: 0023
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

# Each repeated a field of the hashed ``entry`` (the event's only record, docs/audit.md)
# and was bound on every append (~1,250 instructions a column, issue 5 point 6). The
# search batch copies only id, occurred_at, action, actor_id and target_id; the outcome
# filter reads the entry. Downgrading refills them from the entry.
_DROPPED = {
    "outcome": ("$.outcome", sa.String(16), False),
    "actor_kind": ("$.actor.kind", sa.String(16), False),
    "target_type": ("$.target.type", sa.String(50), True),
    "request_id": ("$.request.request_id", sa.String(128), True),
    "source_ip": ("$.request.source_ip", sa.String(64), True),
}


def upgrade() -> None:
    # SQLite 3.35+ drops a column in place; PostgreSQL's row triggers (the append-only
    # guard) do not fire on DDL.
    for name in _DROPPED:
        op.drop_column("audit_events", name)


def downgrade() -> None:
    for name, (_, type_, _) in _DROPPED.items():
        op.add_column("audit_events", sa.Column(name, type_, nullable=True))
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        paths = {
            name: "{" + path[2:].replace(".", ",") + "}" for name, (path, _, _) in _DROPPED.items()
        }
        sets = ", ".join(f"{n} = CAST(entry AS jsonb) #>> '{p}'" for n, p in paths.items())
        # The append-only trigger refuses UPDATE; refilling the copies is not a rewrite.
        op.execute("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only")
        op.execute(f"UPDATE audit_events SET {sets}")  # noqa: S608
        op.execute("ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only")
    else:
        sets = ", ".join(f"{n} = json_extract(entry, '{p}')" for n, (p, _, _) in _DROPPED.items())
        op.execute(f"UPDATE audit_events SET {sets}")  # noqa: S608
    with op.batch_alter_table("audit_events") as batch:
        for name, (_, type_, nullable) in _DROPPED.items():
            if not nullable:
                batch.alter_column(name, existing_type=type_, nullable=False)
