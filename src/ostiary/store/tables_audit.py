"""Audit log tables (see ``ostiary.audit``)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Table, Text

from ostiary.store.tables import Json, Ts, metadata

# BigInteger autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
Seq = BigInteger().with_variant(Integer(), "sqlite")

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("id", String(36), nullable=False, unique=True),
    Column("occurred_at", Ts, nullable=False),
    Column("action", String(100), nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("actor_kind", String(16), nullable=False),
    Column("actor_id", String(200), nullable=False),
    Column("target_type", String(50)),
    Column("target_id", String(200)),
    Column("request_id", String(128)),
    Column("source_ip", String(64)),
    Column("event", Json, nullable=False),
    # The exact bytes hashed into the Merkle leaf (canonical JSON of the whole event).
    Column("entry", Text, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Index("ix_audit_events_actor", "actor_id", "seq"),
    Index("ix_audit_events_target", "target_id", "seq"),
    Index("ix_audit_events_action", "action", "seq"),
    Index("ix_audit_events_occurred_at", "occurred_at"),
)
