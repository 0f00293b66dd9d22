"""audit (PostgreSQL): the append in one round trip, a database function

Revision ID: 0026
Revises: 0025
"""

from __future__ import annotations

from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# ``ostiary_audit_append(rows, batch)``: the PostgreSQL append of
# ostiary.store.repositories.audit in one statement. Before it, an append read the head
# (``SELECT ... FOR UPDATE``) in one round trip and inserted in a second, because each
# entry names its position and its predecessor's leaf hash. Here the database places the
# entries itself: each element of ``rows`` is one event, ``[head, tail, id, occurred_at,
# action, actor_id, target_id]``, where ``head`` and ``tail`` are the event's canonical
# JSON on either side of those two fields (ostiary.audit.entries.halves), so
# ``head || position || ',"prev":"' || hex || '",' || tail`` is byte for byte the entry
# Python would have placed, and its leaf hash is RFC 9162's SHA-256(0x00 || entry).
#
# The head's row lock is taken first, as before: every appender queues on it, and in
# READ COMMITTED the row read after the wait is the committed head, so positions stay
# dense and commit in order. ``batch`` is the search index's batch size (the appender's
# INDEX_BATCH): an append that completes a batch copies its rows to audit_search and
# moves ``indexed``. Verification does not trust any of this: it recomputes every leaf
# from the stored entry.
_FUNCTION = r"""
CREATE OR REPLACE FUNCTION ostiary_audit_append(rows jsonb, batch integer)
RETURNS bigint LANGUAGE plpgsql AS $$
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
    ELSE
        UPDATE audit_head SET size = pos, last_leaf = prev WHERE id = 1;
    END IF;
    RETURN pos;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ostiary_audit_append(jsonb, integer)")
