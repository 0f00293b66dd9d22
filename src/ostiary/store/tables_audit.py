"""Audit log tables (see ``ostiary.audit`` and docs/audit.md)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
)

from ostiary.store.tables import Json, Ts, metadata

# BigInteger autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
Seq = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    # The Merkle leaf index (tree position), assigned under the audit_head row lock, so it
    # is dense and commits in order. It is the primary key (SQLite's rowid) and the
    # table's only B-tree: an append writes one row and nothing else but the head; the
    # searchable columns reach their indexes (audit_search) in batches, see below.
    Column("seq", Seq, primary_key=True, autoincrement=False),
    # The columns the search batch copies to audit_search (and the tail scan filters on).
    # Since migration 0024 nothing else repeats the entry: outcome, actor kind, target
    # type, request id and source IP are read from it (each column cost ~1,250
    # instructions per append, docs/performance.md, audit11).
    Column("id", String(36), nullable=False),
    Column("occurred_at", Ts, nullable=False),
    Column("action", String(100), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("target_id", String(200)),
    # The exact bytes hashed into the Merkle leaf (canonical JSON of the whole event). It
    # is the event's only copy: readers decode it (the `event` JSON column that repeated
    # it was dropped in migration 0017, see docs/audit.md).
    Column("entry", Text, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)

# The search indexes, derived from audit_events and filled by the appender a batch at a
# time (every INDEX_BATCH events, in the appending transaction): each index then takes
# one page write per batch instead of one per event. Events at or past
# ``audit_head.indexed`` are not here yet; readers scan that short tail of audit_events
# by seq. Not part of the tamper-evident record (verification reads audit_events only).
# PostgreSQL compares actions in the "C" collation (migration 0028): an action prefix
# ("scim.user.*") is then a range of the (action, seq) index whatever the database's
# collation (store.repositories.audit_query._action_is). SQLite's BINARY already compares bytes.
SearchedAction = String(100).with_variant(String(100, collation="C"), "postgresql")

audit_search = Table(
    "audit_search",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=False),
    Column("id", String(36), nullable=False, unique=True),
    Column("occurred_at", Ts, nullable=False),
    Column("action", SearchedAction, nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("target_id", String(200)),
    Index("ix_audit_search_actor", "actor_id", "seq"),
    Index("ix_audit_search_target", "target_id", "seq"),
    Index("ix_audit_search_action", "action", "seq"),
)

# The times of the indexed events, one row per search batch: the positions
# [first_seq, end_seq), the latest time of the events up to end_seq (it never decreases
# along seq) and the greatest lag so far, how far (microseconds) a batch's earliest time
# lay behind the latest time before it. A time bound is then a range of positions,
# found with one step into the ``(latest_at, first_seq)`` index (migration 0029,
# store.repositories.audit_time); it replaced an index on audit_search.occurred_at.
audit_time_ranges = Table(
    "audit_time_ranges",
    metadata,
    Column("first_seq", Seq, primary_key=True, autoincrement=False),
    Column("end_seq", BigInteger, nullable=False),
    Column("latest_at", Ts, nullable=False),
    Column("lag_us", BigInteger, nullable=False),
    Index("ix_audit_time_ranges_latest_at", "latest_at", "first_seq"),
)

# The events whose outcome is not "success" (failed sign-ins, denied requests): few, and
# what an outcome filter looks for. The appender writes them with the event (nothing
# for a success); a search for one reads its ``(outcome, seq)`` range instead of every
# entry (migration 0030). Derived, like audit_search: verification reads audit_events.
audit_outcomes = Table(
    "audit_outcomes",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=False),
    Column("outcome", String(64), nullable=False),
    Index("ix_audit_outcomes_outcome", "outcome", "seq"),
)

# One row (id = 1): the tree size, last leaf hash and indexed prefix. Appenders lock it
# (SELECT ... FOR UPDATE on PostgreSQL; SQLite's write lock covers it), which serialises
# appends so positions are dense and commit in order.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("last_leaf", LargeBinary(32)),
    # Events below this position are in audit_search.
    Column("indexed", BigInteger, nullable=False, server_default="0"),
)

audit_checkpoints = Table(
    "audit_checkpoints",
    metadata,
    Column("id", Seq, primary_key=True, autoincrement=True),
    Column("origin", String(300), nullable=False),
    Column("tree_size", BigInteger, nullable=False),
    Column("root_hash", LargeBinary(32), nullable=False),
    Column("time_ms", BigInteger, nullable=False),
    Column("key_id", String(32), nullable=False),
    Column("signature", LargeBinary(64), nullable=False),
    # The frontier of the tree at tree_size (it folds to root_hash, so it is checked
    # before use): the next checkpoint hashes only the events added since.
    Column("frontier", Json, nullable=False),
    Index("ix_audit_checkpoints_tree_size", "tree_size"),
)

# The boundary of the pruned prefix: its size, the frontier hashes (the roots of the
# perfect subtrees covering it, largest first) and its last leaf hash.
audit_anchor = Table(
    "audit_anchor",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("frontier", Json, nullable=False),
    Column("last_leaf", LargeBinary(32)),
    Column("checkpoint_id", BigInteger, nullable=False),
    Column("pruned_at", Ts, nullable=False),
)

# Streaming: each sink's cursor (the next position to deliver) and its failures.
audit_sink_cursors = Table(
    "audit_sink_cursors",
    metadata,
    Column("sink", String(64), primary_key=True),
    Column("next_position", BigInteger, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text),
    Column("next_attempt_at", Ts),
    Column("updated_at", Ts, nullable=False),
)
