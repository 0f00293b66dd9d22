"""Admin console sessions: looked up by SHA-256 of the cookie value, never by the value.

A console session is live while it is not ended, was used within the idle timeout, and
the sign-in session it rides on (``op_sid``) is live too: not ended, not expired, its user
active. That sign-in session supplies ``auth_time`` and ``amr`` (re-authentication and the
second factor are decided on them), so a fresh sign-in is seen at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, insert, select, update

from ostiary.core.clock import as_utc
from ostiary.store.tables import users
from ostiary.store.tables_console import console_sessions as cs
from ostiary.store.tables_oidc import oidc_sessions as ss

# Writing last_seen_at on every request would make every page a write; a minute is far
# below the idle timeout.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class ConsoleSession:
    id_hash: bytes
    user_id: str
    user_name: str
    op_sid: str
    auth_time: datetime
    amr: tuple[str, ...]
    last_seen_at: datetime


def cookie_hash(cookie: str) -> bytes:
    return hashlib.sha256(cookie.encode("utf-8")).digest()


class ConsoleSessionRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(self, user_id: str, op_sid: str, now: datetime) -> str:
        """A new console session; returns the cookie value (shown to the browser only)."""
        cookie = secrets.token_urlsafe(32)
        self._conn.execute(
            insert(cs).values(
                id_hash=cookie_hash(cookie),
                user_id=user_id,
                op_sid=op_sid,
                created_at=now,
                last_seen_at=now,
            )
        )
        return cookie

    def current(self, cookie: str, now: datetime, idle: timedelta) -> ConsoleSession | None:
        row = self._conn.execute(
            select(
                cs.c.id_hash,
                cs.c.user_id,
                cs.c.op_sid,
                cs.c.last_seen_at,
                cs.c.ended_at,
                ss.c.auth_time,
                ss.c.amr,
                ss.c.expires_at,
                ss.c.ended_at.label("op_ended_at"),
                users.c.user_name,
                users.c.active,
            )
            .join(ss, ss.c.sid == cs.c.op_sid)
            .join(users, users.c.id == cs.c.user_id)
            .where(cs.c.id_hash == cookie_hash(cookie))
        ).first()
        if row is None or row.ended_at is not None or row.op_ended_at is not None:
            return None
        if not row.active or as_utc(row.expires_at) <= now:
            return None
        if as_utc(row.last_seen_at) + idle <= now:
            return None
        return ConsoleSession(
            bytes(row.id_hash),
            row.user_id,
            row.user_name,
            row.op_sid,
            as_utc(row.auth_time),
            tuple(row.amr),
            as_utc(row.last_seen_at),
        )

    def touch(self, session: ConsoleSession, now: datetime) -> None:
        stmt = update(cs).where(cs.c.id_hash == session.id_hash).values(last_seen_at=now)
        self._conn.execute(stmt)

    def end(self, id_hash: bytes, now: datetime) -> None:
        """End it, dropping any secret not shown yet."""
        stmt = update(cs).where(cs.c.id_hash == id_hash, cs.c.ended_at.is_(None))
        self._conn.execute(stmt.values(ended_at=now, flash=None))

    def put_flash(self, id_hash: bytes, sealed: str) -> None:
        self._conn.execute(update(cs).where(cs.c.id_hash == id_hash).values(flash=sealed))

    def take_flash(self, id_hash: bytes) -> str | None:
        """The one-time value, cleared in the same transaction: a reload finds nothing."""
        sealed = self._conn.execute(select(cs.c.flash).where(cs.c.id_hash == id_hash)).scalar()
        if sealed is None:
            return None
        # Conditional clear: of two concurrent reloads, only the one that clears it shows it.
        mine = update(cs).where(cs.c.id_hash == id_hash, cs.c.flash == sealed)
        return sealed if self._conn.execute(mine.values(flash=None)).rowcount == 1 else None
