"""Which relying parties each sign-in session has issued tokens to (OIDC Back-Channel
Logout 1.0 section 2.6: the OP tells every RP that had a session with the user)."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, String, Table

from ostiary.store.tables import Ts, metadata

# One row per (session, client), written when a code is redeemed. ``sid`` is the public
# session id (oidc_sessions.sid); ``user_id`` is kept so a user's rows are found directly.
oidc_session_clients = Table(
    "oidc_session_clients",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column(
        "client_id", String(64), ForeignKey("oidc_clients.id", ondelete="CASCADE"), primary_key=True
    ),
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("first_at", Ts, nullable=False),
    Index("ix_oidc_session_clients_user_id", "user_id"),
)
