"""audit: the events whose outcome is not success (audit_outcomes)

Revision ID: 0030
Revises: 0029
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None

# An outcome filter read the outcome from every entry it passed (no column has held it
# since migration 0024), so a search for a rare failure read the whole log. The appender
# now records each event that did not succeed in ``audit_outcomes`` (a success costs it
# nothing); the events already there are recorded here from their entries.
_PG_OUTCOME = "(entry::jsonb) ->> 'outcome'"
_SQLITE_OUTCOME = "json_extract(entry, '$.outcome')"
_FILL = (
    "INSERT INTO audit_outcomes (seq, outcome) SELECT seq, {outcome} FROM audit_events "
    "WHERE {outcome} <> 'success'"
)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "audit_outcomes",
        sa.Column("seq", seq, primary_key=True, autoincrement=False),
        sa.Column("outcome", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_outcomes_outcome", "audit_outcomes", ["outcome", "seq"])
    op.execute(_FILL.format(outcome=_PG_OUTCOME if pg else _SQLITE_OUTCOME))


def downgrade() -> None:
    op.drop_table("audit_outcomes")
