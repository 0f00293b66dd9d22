"""Administrator roles and admin console sessions (issue 9)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String, Table, Text

from ostiary.store.tables import Ts, metadata

# One row per (user, role); the console and ``ostiary admin`` read and write it.
admin_roles = Table(
    "admin_roles",
    metadata,
    Column(
        "user_id",
        String(36),
        ForeignKey("users.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("role", String(32), primary_key=True),
    Column("granted_at", Ts, nullable=False),
    Column("granted_by", String(200)),
)

# A console session rides on a sign-in session (``op_sid``): ending that session, or the
# user's deactivation, ends this one too. Looked up by SHA-256 of the cookie value.
# ``flash`` holds a sealed one-time secret (a new key) until the page that shows it reads it.
console_sessions = Table(
    "console_sessions",
    metadata,
    Column("id_hash", LargeBinary(32), primary_key=True),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("op_sid", String(64), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("last_seen_at", Ts, nullable=False),
    Column("ended_at", Ts),
    Column("flash", Text),
    Index("ix_console_sessions_user_id", "user_id"),
)

__all__ = ["admin_roles", "console_sessions"]
