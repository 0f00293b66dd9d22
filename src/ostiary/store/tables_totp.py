"""TOTP second-factor credentials (RFC 6238), one per user."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table, Text

from ostiary.store.tables import Ts, metadata

# ``sealed`` is the shared secret sealed by the vault (context ``totp:<user_id>``): never
# plaintext at rest. ``confirmed_at`` is null while a self-service enrolment waits for its
# first code; only confirmed credentials are asked for at sign-in. ``last_step`` is the
# last accepted time step: a code for that step or an earlier one is refused (replay).
user_totp = Table(
    "user_totp",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("sealed", Text, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("confirmed_at", Ts),
    Column("last_step", BigInteger),
)
