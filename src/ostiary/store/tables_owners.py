"""Who owns a provisioning key or an OIDC client (issue 7 point 1): deprovisioning the
owner revokes their keys and disables their clients, in the same transaction.

A table of its own rather than a column on each resource's table: one ownership rule for
both kinds, and neither resource's model changes. No foreign keys (the resource id names
rows of two tables); a deleted resource's row is simply never matched again.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, String, Table

from ostiary.store.tables import Ts, metadata

KEY = "provisioning_key"
CLIENT = "oidc_client"

resource_owners = Table(
    "resource_owners",
    metadata,
    Column("kind", String(32), primary_key=True),  # KEY or CLIENT
    Column("resource_id", String(64), primary_key=True),
    Column("owner_user_id", String(36), nullable=False),
    Column("created_at", Ts, nullable=False),
    Index("ix_resource_owners_owner_user_id", "owner_user_id"),
)
