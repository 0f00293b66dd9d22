"""Revoked access tokens (RFC 7009) by ``jti``; rows expire with the token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from ostiary.store.db import touch
from ostiary.store.tables_oidc import oidc_revoked_tokens as rt

TOPIC = "revocations"  # Database.on_commit topic: the revocation set grew


class RevocationRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def is_revoked(self, jti: str) -> bool:
        return self._conn.execute(select(rt.c.jti).where(rt.c.jti == jti)).first() is not None

    def revoke(self, jti: str, client_id: str, expires_at: datetime, now: datetime) -> bool:
        """True if newly revoked (revoking twice is a no-op, RFC 7009 section 2.2)."""
        if self.is_revoked(jti):
            return False
        self._conn.execute(
            insert(rt).values(jti=jti, client_id=client_id, expires_at=expires_at, revoked_at=now)
        )
        touch(self._conn, TOPIC)
        return True

    def unexpired(self, now: datetime, since: datetime | None = None) -> list[tuple[str, datetime]]:
        """``(jti, expires_at)`` of tokens revoked at or after ``since`` (all when None)
        that have not expired: what a node's in-memory copy of the set loads."""
        query = select(rt.c.jti, rt.c.expires_at).where(rt.c.expires_at > now)
        if since is not None:
            query = query.where(rt.c.revoked_at >= since)
        return [(jti, exp) for jti, exp in self._conn.execute(query)]

    def purge_expired(self, now: datetime) -> int:
        return int(self._conn.execute(delete(rt).where(rt.c.expires_at <= now)).rowcount)
