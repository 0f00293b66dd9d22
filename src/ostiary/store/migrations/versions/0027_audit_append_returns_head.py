"""audit (PostgreSQL): the append function returns the head it leaves

Revision ID: 0027
Revises: 0026
"""

from __future__ import annotations

import importlib

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

# ``ostiary_audit_append`` as migration 0026 made it, but returning the head it leaves
# (size, last leaf hash, indexed prefix) instead of the size alone. The appender keeps
# that head as a hint, as SQLite's does: its next append places the entries in Python
# after the hinted head and inserts them with one statement that moves the head only if
# it is still there (ostiary.store.repositories.audit), without this function's
# per-event work in PL/pgSQL; the function remains the path when the hint is stale
# (another node or worker appended) or the batch is large. A changed result type needs
# DROP and CREATE; a node still running the old code ignores the result, so it keeps
# appending through the new function.
_FUNCTION = r"""
CREATE FUNCTION ostiary_audit_append(
    rows jsonb, batch integer,
    OUT head_size bigint, OUT head_leaf bytea, OUT head_indexed bigint
) LANGUAGE plpgsql AS $$
DECLARE
    pos bigint;
    prev bytea;
    indexed_to bigint;
    r jsonb;
    entry text;
    seqs bigint[];
    ids text[];
    times timestamptz[];
    actions text[];
    actors text[];
    targets text[];
    entries text[];
    leaves bytea[];
BEGIN
    SELECT size, last_leaf, indexed INTO pos, prev, indexed_to
        FROM audit_head WHERE id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'the audit_head row is missing: the log cannot be appended to'
            USING ERRCODE = 'no_data_found';
    END IF;
    FOR r IN SELECT jsonb_array_elements(rows) LOOP
        entry := (r->>0) || pos || ',"prev":"'
            || coalesce(encode(prev, 'hex'), repeat('0', 64)) || '",' || (r->>1);
        prev := sha256('\x00'::bytea || convert_to(entry, 'UTF8'));
        seqs := seqs || pos;
        ids := ids || (r->>2);
        times := times || (r->>3)::timestamptz;
        actions := actions || (r->>4);
        actors := actors || (r->>5);
        targets := targets || (r->>6);
        entries := entries || entry;
        leaves := leaves || prev;
        pos := pos + 1;
    END LOOP;
    INSERT INTO audit_events
        (seq, id, occurred_at, action, actor_id, target_id, entry, leaf_hash)
        SELECT * FROM unnest(seqs, ids, times, actions, actors, targets, entries, leaves);
    IF pos - indexed_to >= batch THEN
        UPDATE audit_head SET size = pos, last_leaf = prev, indexed = pos WHERE id = 1;
        INSERT INTO audit_search (seq, id, occurred_at, action, actor_id, target_id)
            SELECT seq, id, occurred_at, action, actor_id, target_id FROM audit_events
            WHERE seq < pos AND seq >= indexed_to;
        indexed_to := pos;
    ELSE
        UPDATE audit_head SET size = pos, last_leaf = prev WHERE id = 1;
    END IF;
    head_size := pos;
    head_leaf := prev;
    head_indexed := indexed_to;
END
$$
"""
_DROP = "DROP FUNCTION IF EXISTS ostiary_audit_append(jsonb, integer)"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_DROP)
        op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_DROP)
        previous = importlib.import_module(
            "ostiary.store.migrations.versions.0026_audit_append_function"
        )
        op.execute(previous._FUNCTION)
