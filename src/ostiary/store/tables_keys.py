"""Provisioning key bindings and schedules, admin API tokens, and held approvals."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
)

from ostiary.store.tables import Json, Ts, metadata

# One row per key that has any binding or schedule (absent row: no restrictions).
provisioning_key_settings = Table(
    "provisioning_key_settings",
    metadata,
    Column(
        "key_id",
        String(16),
        ForeignKey("provisioning_keys.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("require_dpop", Boolean, nullable=False, default=False),
    Column("allowed_cidrs", Json, nullable=False),
    Column("attributes", Json),
    Column("rotate_every_seconds", Integer),
    Column("rotation_overlap_seconds", Integer, nullable=False),
    Column("delivery", Json),
    Column("next_rotation_at", Ts),
    Column("warnings_sent", Json, nullable=False),
    Column("known_networks", Json, nullable=False),
)

admin_tokens = Table(
    "admin_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("scopes", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_by", String(200)),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("revoked_at", Ts),
    Column("secret_hmac", LargeBinary(32), nullable=False),
    Column("last4", String(4), nullable=False),
)

# Operations held for a second administrator (a deprovisioning burst).
key_approvals = Table(
    "key_approvals",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("kind", String(50), nullable=False),
    Column("key_id", String(16)),
    Column("payload", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("requested_by", String(200), nullable=False),
    Column("requested_at", Ts, nullable=False),
    Column("decided_by", String(200)),
    Column("decided_at", Ts),
    Index("ix_key_approvals_status", "status", "requested_at"),
)
