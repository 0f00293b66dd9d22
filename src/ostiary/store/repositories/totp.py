"""TOTP credentials: secrets sealed by the vault, the last accepted step kept per user.

The vault context is ``totp:<user_id>``, so a sealed secret copied onto another user's row
does not open. Accepting a step is one conditional UPDATE (``last_step`` below the new
step), so two concurrent sign-ins with the same code cannot both win (RFC 6238 section
5.2: a used code is never accepted twice).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from ostiary.core.crypto.vault import Vault
from ostiary.store.tables_totp import user_totp as t


@dataclass(frozen=True)
class TotpCredential:
    user_id: str
    secret: bytes
    confirmed: bool
    last_step: int | None


def _context(user_id: str) -> str:
    return f"totp:{user_id}"


def has_totp(conn: Connection, user_id: str) -> bool:
    """Whether ``user_id`` has a confirmed TOTP factor (no secret is opened)."""
    found = conn.execute(
        select(t.c.user_id).where((t.c.user_id == user_id) & t.c.confirmed_at.is_not(None))
    ).first()
    return found is not None


class TotpRepository:
    def __init__(self, conn: Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault

    def get(self, user_id: str) -> TotpCredential | None:
        row = self._conn.execute(select(t).where(t.c.user_id == user_id)).first()
        if row is None:
            return None
        secret = self._vault.open(row.sealed, _context(user_id))
        return TotpCredential(user_id, secret, row.confirmed_at is not None, row.last_step)

    def put(self, user_id: str, secret: bytes, now: datetime, *, confirmed: bool) -> None:
        """Store a new secret for ``user_id``, replacing any earlier one (and its step)."""
        self.delete(user_id)
        self._conn.execute(
            insert(t).values(
                user_id=user_id,
                sealed=self._vault.seal(secret, _context(user_id)),
                created_at=now,
                confirmed_at=now if confirmed else None,
                last_step=None,
            )
        )

    def accept(self, user_id: str, step: int, now: datetime, *, confirm: bool = False) -> bool:
        """Record ``step`` as used; False if it (or a later one) was used already."""
        values: dict[str, object] = {"last_step": step}
        if confirm:
            values["confirmed_at"] = now
        stmt = (
            update(t)
            .where(t.c.user_id == user_id)
            .where(t.c.last_step.is_(None) | (t.c.last_step < step))
            .values(**values)
        )
        return self._conn.execute(stmt).rowcount == 1

    def delete(self, user_id: str) -> bool:
        return self._conn.execute(delete(t).where(t.c.user_id == user_id)).rowcount > 0
