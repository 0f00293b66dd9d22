"""audit (PostgreSQL): actions are searched in the "C" collation

Revision ID: 0028
Revises: 0027
"""

from __future__ import annotations

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

# An action prefix ("scim.user.*") is searched as a range of ``audit_search``'s
# ``(action, seq)`` index (ostiary.store.repositories.audit._action_is), compared in the
# "C" collation, byte (code point) order, so that the range is exactly the prefix whatever
# the database's own collation. The index must be in that collation to serve it: the
# column takes it, which rebuilds the index (the rows are not rewritten: the type stays).
# SQLite compares bytes already (BINARY).
_TO = 'ALTER TABLE audit_search ALTER COLUMN action TYPE VARCHAR(100) COLLATE "{}"'


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_TO.format("C"))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_TO.format("default"))
