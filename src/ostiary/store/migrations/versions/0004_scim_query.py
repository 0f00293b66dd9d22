"""SCIM filter indexes: pg_trgm GIN and text_pattern_ops B-trees on userName and email
keys (see tables_scim_query)

Revision ID: 0004
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0010"
branch_labels = None
depends_on = None

# (index, table, column); on SQLite each is an empty partial index (WHERE 0).
INDEXES = [
    ("ix_users_user_name_key_trgm", "users", "user_name_key"),
    ("ix_user_emails_value_key_trgm", "user_emails", "value_key"),
]
PREFIX_INDEXES = [
    ("ix_users_user_name_key_prefix", "users", "user_name_key"),
    ("ix_user_emails_value_key_prefix", "user_emails", "value_key"),
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # pg_trgm is a trusted extension (PostgreSQL 13+): the database owner may create it.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, column in INDEXES:
        op.create_index(
            name,
            table,
            [column],
            postgresql_using="gin",
            postgresql_ops={column: "gin_trgm_ops"},
            sqlite_where=sa.text("0"),
        )
    for name, table, column in PREFIX_INDEXES:
        op.create_index(
            name,
            table,
            [column],
            postgresql_ops={column: "text_pattern_ops"},
            sqlite_where=sa.text("0"),
        )


def downgrade() -> None:
    for name, table, _ in INDEXES + PREFIX_INDEXES:
        op.drop_index(name, table_name=table)
