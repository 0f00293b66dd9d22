"""Reversed local parts of the search copies: ``co``/``ew`` needles holding one ``@``

``userName co "49@example"`` matches ~10,000 users at 1M; its exact count rechecked every
trigram match on its copy row (~10,000 heap pages of user_name_search, a cold first call
p99 ~175 ms; issue 3 point 10 asks < 50 ms). A key with exactly one ``@`` (and no
U+001F, the email copy's separator) contains a needle ``L@D`` (one ``@``) exactly when
its local part ends with ``L`` and its domain starts with ``D``. So, per copy:

- a B-tree on the key's reversed local part, ``COLLATE "C"`` so ``L`` reversed is a
  prefix range, partial on such keys (``scim_key_one_at``), INCLUDE the key and the id:
  the range is read by an index-only scan and the whole needle checked on the key the
  index holds (no heap row read while the pages are all-visible);
- a trigram index on the other keys holding an ``@`` (``scim_key_many_ats``: several
  ``@`` or several joined addresses), whose matches are not found by the range: in a
  directory of plain addresses it is empty, and a create only evaluates its predicate.

Keys without ``@`` cannot contain such a needle. ``store.local_suffix`` builds the two
reads (the union is exactly the matches); SQLite: nothing (it has no trigram search).

Revision ID: 0023
Revises: 0022
"""

from __future__ import annotations

from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# IMMUTABLE and not STRICT: PostgreSQL inlines the bodies, in the partial indexes'
# predicates and in the queries alike, so a query's clause proves the predicate.
ONE_AT = r"""
CREATE FUNCTION scim_key_one_at(k text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT k LIKE '%@%' AND k NOT LIKE '%@%@%' AND strpos(k, E'\x1f') = 0
$$
"""
MANY_ATS = r"""
CREATE FUNCTION scim_key_many_ats(k text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT k LIKE '%@%' AND (k LIKE '%@%@%' OR strpos(k, E'\x1f') > 0)
$$
"""
# (table, key column) of the two copies (migration 0021).
COPIES = [("user_name_search", "user_name_key"), ("user_email_search", "email_keys")]


def _indexes(table: str, key: str) -> list[str]:
    return [
        f"CREATE INDEX ix_{table}_local_rev ON {table}"
        f" ((reverse(split_part({key}, '@', 1)) COLLATE \"C\")) INCLUDE ({key}, id)"
        f" WHERE scim_key_one_at({key})",
        f"CREATE INDEX ix_{table}_many_ats_trgm ON {table}"
        f" USING gin ({key} gin_trgm_ops) WHERE scim_key_many_ats({key})",
    ]


# PostgreSQL-only (expressions over functions): see tables_scim_query.PG_ONLY_INDEXES.
INDEXES = [sql for table, key in COPIES for sql in _indexes(table, key)]


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in (ONE_AT, MANY_ATS, *INDEXES):
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, _key in COPIES:
        op.execute(f"DROP INDEX ix_{table}_local_rev")
        op.execute(f"DROP INDEX ix_{table}_many_ats_trgm")
    op.execute("DROP FUNCTION scim_key_many_ats(text)")
    op.execute("DROP FUNCTION scim_key_one_at(text)")
