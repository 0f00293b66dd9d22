"""Outbox and webhook endpoint tables (see ``ostiary.signals``)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, String, Table, Text

from ostiary.store.tables import Json, Ts, metadata

outbox = Table(
    "outbox",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("topic", String(64), nullable=False),
    Column("destination", String(200), nullable=False),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("next_attempt_at", Ts, nullable=False),
    # A claimed message is leased to one worker until this time; a worker killed mid-send
    # leaves the lease to run out, and another worker delivers the message again.
    Column("locked_until", Ts),
    Column("last_error", Text),
    Column("delivered_at", Ts),
    Index("ix_outbox_due", "status", "next_attempt_at"),
)

webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("url", String(2048), nullable=False),
    Column("description", Text, nullable=False),
    Column("events", Json, nullable=False),  # action prefixes, e.g. ["scim.user", "key."]
    Column("secret_sealed", Text, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Ts, nullable=False),
)
