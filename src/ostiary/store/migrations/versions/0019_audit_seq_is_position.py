"""audit: the tree position is the primary key; search indexes move to audit_search

Revision ID: 0019
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0015"
branch_labels = None
depends_on = None

Ts = sa.DateTime(timezone=True)
Seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# The columns both layouts share (everything but seq, position and the indexes).
_SHARED = (
    "id, occurred_at, action, outcome, actor_kind, actor_id, target_type, target_id, "
    "request_id, source_ip, entry, leaf_hash"
)
_SEARCHED = "seq, id, occurred_at, action, actor_id, target_id"
# The append-only guard of migration 0006 (its function survives the table rebuild).
_TRIGGERS = [
    "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events "
    "FOR EACH ROW EXECUTE FUNCTION ostiary_audit_append_only()",
    "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
    "FOR EACH STATEMENT EXECUTE FUNCTION ostiary_audit_append_only()",
]


def _event_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("occurred_at", Ts, nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("actor_kind", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("target_type", sa.String(50)),
        sa.Column("target_id", sa.String(200)),
        sa.Column("request_id", sa.String(128)),
        sa.Column("source_ip", sa.String(64)),
        sa.Column("entry", sa.Text, nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
    ]


def _swap_in(postgres: bool) -> None:
    """Replace audit_events by the rebuilt audit_events_new. Dropping a table fires no
    row trigger; the guard is recreated on the new table."""
    op.drop_table("audit_events")
    op.rename_table("audit_events_new", "audit_events")
    if postgres:
        # Constraint names are schema-wide: give the key the name a fresh table has.
        op.execute(
            "ALTER TABLE audit_events RENAME CONSTRAINT pk_audit_events_new TO pk_audit_events"
        )
        for statement in _TRIGGERS:
            op.execute(statement)


def upgrade() -> None:
    # Each append wrote the table and six indexes (position, id, and four for search);
    # each index is a page written to the log per event. The position becomes the
    # primary key (seq keeps its name: the API's cursors are seqs) and the search indexes
    # move to audit_search, which the appender fills a batch at a time.
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "audit_events_new",
        sa.Column("seq", Seq, primary_key=True, autoincrement=False),
        *_event_columns(),
    )
    op.execute(
        f"INSERT INTO audit_events_new (seq, {_SHARED}) "  # noqa: S608
        f"SELECT position, {_SHARED} FROM audit_events"
    )
    _swap_in(postgres)
    op.create_table(
        "audit_search",
        sa.Column("seq", Seq, primary_key=True, autoincrement=False),
        sa.Column("id", sa.String(36), nullable=False, unique=True),
        sa.Column("occurred_at", Ts, nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("actor_id", sa.String(200), nullable=False),
        sa.Column("target_id", sa.String(200)),
    )
    op.execute(
        f"INSERT INTO audit_search ({_SEARCHED}) SELECT {_SEARCHED} FROM audit_events"  # noqa: S608
    )
    op.create_index("ix_audit_search_actor", "audit_search", ["actor_id", "seq"])
    op.create_index("ix_audit_search_target", "audit_search", ["target_id", "seq"])
    op.create_index("ix_audit_search_action", "audit_search", ["action", "seq"])
    op.create_index("ix_audit_search_occurred_at", "audit_search", ["occurred_at"])
    with op.batch_alter_table("audit_head") as batch:
        batch.add_column(sa.Column("indexed", sa.BigInteger, nullable=False, server_default="0"))
    op.execute("UPDATE audit_head SET indexed = size")  # every event was copied above


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("indexed")
    op.drop_table("audit_search")
    op.create_table(
        "audit_events_new",
        sa.Column("seq", Seq, primary_key=True, autoincrement=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        *_event_columns(),
    )
    op.execute(
        f"INSERT INTO audit_events_new (seq, position, {_SHARED}) "  # noqa: S608
        f"SELECT seq + 1, seq, {_SHARED} FROM audit_events"
    )
    _swap_in(postgres)
    if postgres:  # the rebuilt table's sequence continues after the copied rows
        op.execute(
            "SELECT setval(pg_get_serial_sequence('audit_events', 'seq'), "
            "COALESCE(MAX(seq), 0) + 1, false) FROM audit_events"
        )
    with op.batch_alter_table("audit_events") as batch:
        batch.create_unique_constraint("uq_audit_events_position", ["position"])
        batch.create_unique_constraint("uq_audit_events_id", ["id"])
    op.create_index("ix_audit_events_actor", "audit_events", ["actor_id", "seq"])
    op.create_index("ix_audit_events_target", "audit_events", ["target_id", "seq"])
    op.create_index("ix_audit_events_action", "audit_events", ["action", "seq"])
    op.create_index("ix_audit_events_occurred_at", "audit_events", ["occurred_at"])
