"""Outbound provisioning targets: downstream SCIM 2.0 applications Ostiary pushes to.

A target's credential is either a reference (``{"env": NAME}``, ``{"file": PATH}``,
``{"command": [...]}``) resolved when a push runs, or a token sealed by the vault; never
plaintext. ``group_id`` limits the push to that group's members (no foreign key on
purpose: a deleted filter group must mean "nobody is in scope", not "everybody").
"""

from __future__ import annotations

from sqlalchemy import Boolean, Column, String, Table, Text

from ostiary.store.tables import Json, Ts, metadata

provisioning_targets = Table(
    "provisioning_targets",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("url", String(2048), nullable=False),
    Column("token_ref", Json),
    Column("token_sealed", Text),
    Column("group_id", String(36)),
    Column("delete_users", Boolean, nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("created_at", Ts, nullable=False),
)
