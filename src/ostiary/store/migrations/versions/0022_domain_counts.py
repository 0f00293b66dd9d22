"""scim_domain_counts: users per domain, so a substring found in every domain counts fast

``userName co "example.c"`` matches every user of example.com; at 1M users its exact count
read the whole narrow copy (~100 ms on 2 cores, issue 3 point 10 asks < 50 ms). A needle
without ``@`` (and without the copies' separator) lies inside a key's local part or inside
its domain, never across the ``@``, so the users it matches are those of the domains that
contain it plus those whose local part (but no domain) contains it. This migration keeps:

- ``scim_domain_counts``: per copy (1: userName, 2: emails) and per *signature* (the
  domains of a copy row, in order, joined by U+001F; sha256 as the key), the number of
  copy rows, as of the last fold.
- ``scim_domain_deltas``: what the writes since then add (+1) and remove (-1), one row
  per changed copy row's domains, appended in the writing transaction; no key, no index,
  never updated. A write thus updates no shared row (no waits between writers, no dead
  counter tuples, no index entries: session 9's per-backend counter rows cost ~120 us of
  backend CPU per single create, docs/performance.md). A count sums both tables in one
  statement (one snapshot); ``store.domain_counts.fold`` moves the deltas into the counts
  in one transaction, every few seconds in ``serve``.
- trigram indexes on ``scim_key_locals(key)`` of both copies, for the local-part term.

The copies' sync functions (migration 0021) append the deltas in the writing transaction,
row by row (a statement-level trigger with transition tables cost ~3x more per create).
SQLite: the tables only, empty (no trigram search there), as 0021 did.

Revision ID: 0022
Revises: 0021
"""

from __future__ import annotations

import importlib

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Text before each part's last '@' (the whole part when it has none) and after it ('' for
# a part without one); parts joined by U+001F as in user_email_search. IMMUTABLE (the
# local-part trigram indexes use it) and not STRICT, so PostgreSQL inlines the body
# (~0.2-0.5 us a call where the regular expressions alone cost ~2.7 us): a single key,
# the common case, is cut by split_part; several joined keys by the expressions.
LOCALS = r"""
CREATE FUNCTION scim_key_locals(k text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN strpos(k, E'\x1f') > 0 THEN regexp_replace(k, '@[^@\x1f]*(?=\x1f|$)', '', 'g')
        WHEN strpos(k, '@') = 0 THEN k
        ELSE left(k, -1 - length(split_part(k, '@', -1)))
    END
$$
"""
DOMAINS = r"""
CREATE FUNCTION scim_key_domains(k text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE
        WHEN strpos(k, E'\x1f') > 0 THEN regexp_replace(
            regexp_replace(k, '(^|\x1f)[^@\x1f]*(?=\x1f|$)', '\1', 'g'), '[^@\x1f]*@', '', 'g')
        WHEN strpos(k, '@') = 0 THEN ''
        ELSE split_part(k, '@', -1)
    END
$$
"""
# The fold's advisory lock (``store.domain_counts.FOLD_LOCK``): a TRUNCATE takes it so a
# fold running beside it cannot put back counts the TRUNCATE cleared.
FOLD_LOCK = 0x05C1D0C0


def _delta(rows: str) -> str:
    """plpgsql: append ``rows`` (``(copy, domains, d)`` value lists) to the deltas."""
    return f"INSERT INTO scim_domain_deltas (copy, domains, d) VALUES {rows};"  # noqa: S608


def _cleared(copy: int) -> str:
    """plpgsql: a TRUNCATE of copy ``copy``'s source clears its counts and deltas."""
    return f"""
        PERFORM pg_advisory_xact_lock({FOLD_LOCK});
        DELETE FROM scim_domain_counts WHERE copy = {copy};
        DELETE FROM scim_domain_deltas WHERE copy = {copy};"""  # noqa: S608 (constants only)


# Migration 0021's functions, each changed copy row also appending its domains' +1/-1 to
# scim_domain_deltas (one INSERT per trigger call: no counter row is updated by a write).
SYNC = f"""
CREATE OR REPLACE FUNCTION user_name_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_doms text;
    new_doms text;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_name_search (id, user_name_key) VALUES (NEW.id, NEW.user_name_key);
        {_delta("(1, scim_key_domains(NEW.user_name_key), 1)")}
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE user_name_search SET id = NEW.id, user_name_key = NEW.user_name_key
        WHERE id = OLD.id;
        old_doms := scim_key_domains(OLD.user_name_key);
        new_doms := scim_key_domains(NEW.user_name_key);
        IF old_doms <> new_doms THEN
            {_delta("(1, old_doms, -1), (1, new_doms, 1)")}
        END IF;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM user_name_search WHERE id = OLD.id;
        {_delta("(1, scim_key_domains(OLD.user_name_key), -1)")}
    ELSE
        TRUNCATE user_name_search;
        {_cleared(1)}
    END IF;
    RETURN NULL;
END
$$
"""  # noqa: S608 (constants of this module only)
# user_email_search: the user's keys joined by U+001F, in position order, or no row; the
# deltas follow the row's domains (the old row's -1, the new row's +1 when they differ).
EMAIL_SYNC = f"""
CREATE OR REPLACE FUNCTION user_email_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    uids varchar(36)[] := '{{}}';
    uid varchar(36);
    joined text;
    old_keys text;
    old_doms text;
    new_doms text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE user_email_search;
        {_cleared(2)}
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- No copy row means no other address (the rows and the copy change together):
        -- the new key is the whole value, the common case of a create.
        INSERT INTO user_email_search (id, email_keys) VALUES (NEW.user_id, NEW.value_key)
        ON CONFLICT (id) DO NOTHING;
        IF FOUND THEN
            {_delta("(2, scim_key_domains(NEW.value_key), 1)")}
            RETURN NULL;
        END IF;
        uids := ARRAY[NEW.user_id];
    END IF;
    IF TG_OP = 'UPDATE' THEN
        uids := ARRAY[NEW.user_id];
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.user_id <> NEW.user_id) THEN
        uids := array_append(uids, OLD.user_id);
    END IF;
    FOREACH uid IN ARRAY uids
    LOOP
        SELECT string_agg(value_key, E'\\x1f' ORDER BY position) INTO joined
        FROM user_emails WHERE user_id = uid;
        SELECT email_keys INTO old_keys FROM user_email_search WHERE id = uid;
        CONTINUE WHEN joined IS NOT DISTINCT FROM old_keys;
        IF joined IS NULL THEN
            DELETE FROM user_email_search WHERE id = uid;
        ELSE
            INSERT INTO user_email_search (id, email_keys) VALUES (uid, joined)
            ON CONFLICT (id) DO UPDATE SET email_keys = EXCLUDED.email_keys;
        END IF;
        old_doms := scim_key_domains(old_keys);
        new_doms := scim_key_domains(joined);
        CONTINUE WHEN old_doms IS NOT DISTINCT FROM new_doms;
        INSERT INTO scim_domain_deltas (copy, domains, d)
        SELECT 2, doms, d FROM (VALUES (old_doms, -1), (new_doms, 1)) AS v (doms, d)
        WHERE doms IS NOT NULL;
    END LOOP;
    RETURN NULL;
END
$$
"""  # noqa: S608 (constants of this module only)
# What the counts are for the rows the copies hold now (also the seed's bulk load).
FILL = [
    "INSERT INTO scim_domain_counts (copy, signature, domains, n)"
    " SELECT 1, sha256(convert_to(d, 'UTF8')), d, count(*) FROM"
    " (SELECT scim_key_domains(user_name_key) AS d FROM user_name_search) AS s GROUP BY d",
    "INSERT INTO scim_domain_counts (copy, signature, domains, n)"
    " SELECT 2, sha256(convert_to(d, 'UTF8')), d, count(*) FROM"
    " (SELECT scim_key_domains(email_keys) AS d FROM user_email_search) AS s GROUP BY d",
]
# The deltas are deleted by every fold (seconds apart): vacuum them by row count, not
# by a fraction of a table that is nearly always empty.
DELTA_VACUUM = (
    "ALTER TABLE scim_domain_deltas SET (autovacuum_vacuum_scale_factor = 0,"
    " autovacuum_vacuum_threshold = 20000, autovacuum_vacuum_insert_scale_factor = 0,"
    " autovacuum_vacuum_insert_threshold = 20000)"
)
# PostgreSQL-only expression indexes (not in the SQLAlchemy metadata: see
# tables_scim_query.PG_ONLY_INDEXES).
LOCAL_INDEXES = [
    "CREATE INDEX ix_user_name_search_locals_trgm ON user_name_search"
    " USING gin ((scim_key_locals(user_name_key)) gin_trgm_ops)",
    "CREATE INDEX ix_user_email_search_locals_trgm ON user_email_search"
    " USING gin ((scim_key_locals(email_keys)) gin_trgm_ops)",
]


def upgrade() -> None:
    op.create_table(
        "scim_domain_counts",
        sa.Column("copy", sa.SmallInteger, primary_key=True),
        sa.Column("signature", sa.LargeBinary, primary_key=True),
        sa.Column("domains", sa.Text, nullable=False),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    # No key and no index: a write only appends (see the module docstring).
    op.create_table(
        "scim_domain_deltas",
        sa.Column("copy", sa.SmallInteger, nullable=False),
        sa.Column("domains", sa.Text, nullable=False),
        sa.Column("d", sa.Integer, nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    for sql in (LOCALS, DOMAINS, DELTA_VACUUM, SYNC, EMAIL_SYNC, *FILL, *LOCAL_INDEXES):
        op.execute(sql)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        # 0021's functions as they were (a module name cannot start with a digit).
        old = importlib.import_module("ostiary.store.migrations.versions.0021_user_name_search")
        op.execute("DROP INDEX ix_user_email_search_locals_trgm")
        op.execute("DROP INDEX ix_user_name_search_locals_trgm")
        op.execute(old.SYNC.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
        op.execute(old.EMAIL_SYNC.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION"))
        op.execute("DROP FUNCTION scim_key_domains(text)")
        op.execute("DROP FUNCTION scim_key_locals(text)")
    op.drop_table("scim_domain_deltas")
    op.drop_table("scim_domain_counts")
