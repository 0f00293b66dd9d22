"""audit: a time bound is a range of positions (audit_time_ranges)

Revision ID: 0029
Revises: 0028
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0029"
down_revision = "0028"
branch_labels = None
depends_on = None

# Each search batch adds a row to ``audit_time_ranges``: its positions, the latest time
# of the events up to its end and the greatest lag so far, so that ``since`` and ``until``
# are ranges of positions (ostiary.store.repositories.audit_time); the index on
# ``audit_search.occurred_at`` served no page (the planner walked ``seq`` filtering the
# time) and goes. Existing indexed events are grouped 256 positions a row.
# ``ostiary_audit_append`` adds the row as the appenders' own statements do, from where
# the last row ended (a batch a node on the earlier code indexed without one is covered).
_GROUPS = (
    "SELECT min(seq) AS first_seq, max(seq) + 1 AS end_seq, min(occurred_at) AS lo, "
    "max(occurred_at) AS hi FROM audit_search GROUP BY seq / 256"
)
_FILL = (
    "INSERT INTO audit_time_ranges (first_seq, end_seq, latest_at, lag_us) "  # noqa: S608
    "SELECT first_seq, end_seq, latest, max(behind) OVER (ORDER BY first_seq) FROM ("
    "SELECT first_seq, end_seq, latest, CASE WHEN prev > lo THEN {behind} ELSE 0 END "
    "AS behind FROM (SELECT first_seq, end_seq, lo, latest, "
    "lag(latest) OVER (ORDER BY first_seq) AS prev FROM (SELECT first_seq, end_seq, lo, "
    f"max(hi) OVER (ORDER BY first_seq) AS latest FROM ({_GROUPS}) g) r) x) y"
)
_PG_BEHIND = "ceil(extract(epoch FROM prev - lo) * 1000000)::bigint"
# SQLite's column text is "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds by strftime of the
# text up to the second (strftime rounds a fraction), the fraction from the text.
_SQLITE_BEHIND = (
    "(strftime('%s', substr(prev, 1, 19)) - strftime('%s', substr(lo, 1, 19))) * 1000000 "
    "+ substr(prev, 21) - substr(lo, 21)"
)
_OLD_BATCH = """
        INSERT INTO audit_search (seq, id, occurred_at, action, actor_id, target_id)
            SELECT seq, id, occurred_at, action, actor_id, target_id FROM audit_events
            WHERE seq < pos AND seq >= indexed_to;
"""
_NEW_BATCH = """
        WITH copied AS (
            INSERT INTO audit_search (seq, id, occurred_at, action, actor_id, target_id)
            SELECT seq, id, occurred_at, action, actor_id, target_id FROM audit_events
            WHERE seq < pos AND seq >= indexed_to
        )
        INSERT INTO audit_time_ranges (first_seq, end_seq, latest_at, lag_us)
            SELECT coalesce(p.end_seq, indexed_to), pos, greatest(p.latest_at, b.hi),
                greatest(p.lag_us,
                    ceil(extract(epoch FROM p.latest_at - b.lo) * 1000000)::bigint, 0)
            FROM (SELECT max(occurred_at) AS hi, min(occurred_at) AS lo FROM audit_events
                  WHERE seq < pos AND seq >= coalesce((SELECT end_seq FROM audit_time_ranges
                      ORDER BY first_seq DESC LIMIT 1), indexed_to)) b
            LEFT JOIN (SELECT end_seq, latest_at, lag_us FROM audit_time_ranges
                       ORDER BY first_seq DESC LIMIT 1) p ON 1 = 1;
"""


def _function(old: str, new: str) -> str:
    """Migration 0027's function with its search batch ``old`` replaced by ``new``."""
    previous = importlib.import_module(
        "ostiary.store.migrations.versions.0027_audit_append_returns_head"
    )
    body: str = previous._FUNCTION
    if old not in body:
        raise RuntimeError("migration 0027's search batch is not where it was")
    return body.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION").replace(old, new)


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    seq = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "audit_time_ranges",
        sa.Column("first_seq", seq, primary_key=True, autoincrement=False),
        sa.Column("end_seq", sa.BigInteger(), nullable=False),
        sa.Column("latest_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lag_us", sa.BigInteger(), nullable=False),
    )
    op.create_index(
        "ix_audit_time_ranges_latest_at", "audit_time_ranges", ["latest_at", "first_seq"]
    )
    op.execute(_FILL.format(behind=_PG_BEHIND if pg else _SQLITE_BEHIND))
    op.drop_index("ix_audit_search_occurred_at", "audit_search")
    if pg:
        op.execute(_function(_OLD_BATCH, _NEW_BATCH))


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_function(_OLD_BATCH, _OLD_BATCH))
    op.create_index("ix_audit_search_occurred_at", "audit_search", ["occurred_at"])
    op.drop_table("audit_time_ranges")
