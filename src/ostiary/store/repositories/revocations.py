"""Revoked access tokens (RFC 7009) by ``jti``; rows expire with the token."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, SelectBase, delete, insert, literal, select, true
from sqlalchemy.dialects import postgresql, sqlite

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

    def revoke_selected(self, source: SelectBase, now: datetime) -> int:
        """Revoke every ``(jti, client_id, expires_at)`` row ``source`` selects in one
        statement (INSERT ... SELECT, already-revoked jtis skipped); returns how many were
        newly revoked. A row per token and a read before each cost a deprovisioning two
        round trips per token."""
        rows = source.subquery()
        picked = select(rows.c[0], rows.c[1], rows.c[2], literal(now, rt.c.revoked_at.type))
        # SQLite parses "SELECT ... ON CONFLICT" ambiguously without a WHERE clause.
        picked = picked.where(true())
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(rt)
            .from_select(["jti", "client_id", "expires_at", "revoked_at"], picked)
            .on_conflict_do_nothing(index_elements=["jti"])
            .returning(rt.c.jti)
        )
        revoked = len(self._conn.execute(stmt).all())
        if revoked:
            touch(self._conn, TOPIC)
        return revoked

    def unexpired(self, now: datetime, since: datetime | None = None) -> list[tuple[str, datetime]]:
        """``(jti, expires_at)`` of tokens revoked at or after ``since`` (all when None)
        that have not expired: what a node's in-memory copy of the set loads."""
        query = select(rt.c.jti, rt.c.expires_at).where(rt.c.expires_at > now)
        if since is not None:
            query = query.where(rt.c.revoked_at >= since)
        return [(jti, exp) for jti, exp in self._conn.execute(query)]

    def purge_expired(self, now: datetime) -> int:
        return int(self._conn.execute(delete(rt).where(rt.c.expires_at <= now)).rowcount)
