"""Sign-in sessions: looked up by SHA-256 of the cookie value, never by the value."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from ostiary.core.clock import as_utc
from ostiary.oidc import acr as acr_classes
from ostiary.store.tables import users
from ostiary.store.tables_oidc import oidc_sessions as ss


@dataclass(frozen=True)
class Session:
    sid: str
    user_id: str
    auth_time: datetime
    amr: tuple[str, ...]
    expires_at: datetime

    @property
    def acr(self) -> str:
        """``urn:ostiary:acr:mfa`` after password and TOTP, else ``urn:ostiary:acr:pwd``."""
        return acr_classes.of(self.amr)

    @property
    def mfa(self) -> bool:
        """Signed in with a second factor (for pages that demand one, e.g. key admin)."""
        return acr_classes.is_mfa(self.amr)


def _hash(cookie: str) -> bytes:
    return hashlib.sha256(cookie.encode("utf-8")).digest()


class SessionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(
        self, user_id: str, now: datetime, expires_at: datetime, amr: list[str]
    ) -> tuple[str, Session]:
        """A new session and the cookie value that names it (shown to the browser only)."""
        cookie = secrets.token_urlsafe(32)
        session = Session(secrets.token_urlsafe(16), user_id, now, tuple(amr), expires_at)
        self._conn.execute(
            insert(ss).values(
                id_hash=_hash(cookie),
                sid=session.sid,
                user_id=user_id,
                auth_time=now,
                amr=list(amr),
                expires_at=expires_at,
            )
        )
        return cookie, session

    def current(self, cookie: str, now: datetime) -> Session | None:
        """The live session for a cookie: not ended, not expired, its user still active."""
        row = self._conn.execute(
            select(ss, users.c.active)
            .join(users, users.c.id == ss.c.user_id)
            .where(ss.c.id_hash == _hash(cookie))
        ).first()
        if row is None or row.ended_at is not None or not row.active:
            return None
        if as_utc(row.expires_at) <= now:
            return None
        return Session(
            row.sid, row.user_id, as_utc(row.auth_time), tuple(row.amr), as_utc(row.expires_at)
        )

    def end(self, cookie: str, now: datetime) -> Session | None:
        session = self.current(cookie, now)
        if session is not None:
            self._conn.execute(update(ss).where(ss.c.sid == session.sid).values(ended_at=now))
        return session

    def end_all(self, user_id: str, now: datetime) -> list[str]:
        """End every live session of ``user_id``; returns their sids (for logout fan-out)."""
        live = (ss.c.user_id == user_id) & ss.c.ended_at.is_(None)
        # One statement (RETURNING: PostgreSQL, SQLite >= 3.35) rather than read, then write.
        ended = self._conn.execute(update(ss).where(live).values(ended_at=now).returning(ss.c.sid))
        return sorted(r.sid for r in ended)
