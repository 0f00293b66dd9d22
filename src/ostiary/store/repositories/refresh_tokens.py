"""Refresh tokens, looked up by SHA-256 of the token, never by the token."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from ostiary.core.clock import as_utc
from ostiary.store.tables_oidc_code import oidc_refresh_tokens as rt

PREFIX = "ost_rt_"


@dataclass(frozen=True)
class RefreshGrant:
    grant_id: str
    client_id: str
    user_id: str
    sid: str
    scope: str
    auth_time: datetime
    amr: tuple[str, ...]
    expires_at: datetime
    used_at: datetime | None = None
    revoked_at: datetime | None = None
    claims: dict[str, list[str]] | None = None  # OIDC Core 5.5, as requested at sign-in


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def _ts(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


class RefreshTokenRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(
        self, grant: RefreshGrant, now: datetime, access_jti: str, access_exp: datetime
    ) -> str:
        token = PREFIX + secrets.token_urlsafe(32)
        self._conn.execute(
            insert(rt).values(
                token_hash=_hash(token),
                grant_id=grant.grant_id,
                client_id=grant.client_id,
                user_id=grant.user_id,
                sid=grant.sid,
                scope=grant.scope,
                auth_time=grant.auth_time,
                amr=list(grant.amr),
                created_at=now,
                expires_at=grant.expires_at,
                access_jti=access_jti,
                access_exp=access_exp,
                claims=grant.claims,
            )
        )
        return token

    def get(self, token: str) -> RefreshGrant | None:
        r = self._conn.execute(select(rt).where(rt.c.token_hash == _hash(token))).first()
        if r is None:
            return None
        return RefreshGrant(
            grant_id=r.grant_id,
            client_id=r.client_id,
            user_id=r.user_id,
            sid=r.sid,
            scope=r.scope,
            auth_time=as_utc(r.auth_time),
            amr=tuple(r.amr),
            expires_at=as_utc(r.expires_at),
            used_at=_ts(r.used_at),
            revoked_at=_ts(r.revoked_at),
            claims=r.claims,
        )

    def rotate(self, token: str, now: datetime) -> bool:
        """Mark used; False if it already was (exactly one concurrent caller wins)."""
        result = self._conn.execute(
            update(rt)
            .where(rt.c.token_hash == _hash(token), rt.c.used_at.is_(None))
            .values(used_at=now)
        )
        return int(result.rowcount) == 1

    def revoke_grant(self, grant_id: str, now: datetime) -> list[tuple[str, datetime]]:
        """Revoke every token of the grant; returns (jti, exp) of their access tokens."""
        rows = self._conn.execute(
            select(rt.c.access_jti, rt.c.access_exp).where(rt.c.grant_id == grant_id)
        ).all()
        self._conn.execute(
            update(rt)
            .where(rt.c.grant_id == grant_id, rt.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        return [(r.access_jti, as_utc(r.access_exp)) for r in rows if r.access_jti]
