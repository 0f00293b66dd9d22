"""Shared Signals Framework tables: event streams and their per-stream SET queue."""

from __future__ import annotations

from sqlalchemy import Column, Index, PrimaryKeyConstraint, String, Table, Text

from ostiary.store.tables import Json, Ts, metadata

ssf_streams = Table(
    "ssf_streams",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("owner_key_id", String(64), nullable=False),  # the receiver's provisioning key
    Column("aud", String(200), nullable=False),
    Column("method", String(32), nullable=False),  # urn:ietf:rfc:8935 push | 8936 poll
    Column("endpoint_url", String(2048)),  # push only; the poll URL is derived
    Column("authorization_sealed", Text),  # the push authorization_header, vault-sealed
    Column("events_requested", Json, nullable=False),
    Column("description", Text),
    Column("status", String(16), nullable=False),
    Column("reason", Text),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    Column("last_verification_at", Ts),
    Index("ix_ssf_streams_owner", "owner_key_id"),
)

# SETs waiting on a stream: poll streams' deliveries until acknowledged (RFC 8936), and
# any stream's events held while it is paused (SSF 1.0 section 8.1.2.1). Push deliveries
# of an enabled stream go through the outbox instead.
ssf_queue = Table(
    "ssf_queue",
    metadata,
    Column("jti", String(64), primary_key=True),
    Column("stream_id", String(64), nullable=False),
    Column("token", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | held | error
    Column("created_at", Ts, nullable=False),
    Column("err", String(100)),
    Column("description", Text),
    Index("ix_ssf_queue_stream", "stream_id", "status", "created_at"),
)

# Subjects a receiver removed from its stream (default_subjects is ALL, SSF 1.0 8.1.3).
ssf_excluded_subjects = Table(
    "ssf_excluded_subjects",
    metadata,
    Column("stream_id", String(64), nullable=False),
    Column("subject_key", String(64), nullable=False),
    Column("subject", Json, nullable=False),
    Column("created_at", Ts, nullable=False),
    PrimaryKeyConstraint("stream_id", "subject_key"),
)
