"""Authorization codes, looked up by SHA-256 of the code, never by the code."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from ostiary.core.clock import as_utc
from ostiary.store.tables_oidc_code import oidc_auth_codes as ac


@dataclass(frozen=True)
class AuthCode:
    client_id: str
    user_id: str
    sid: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str | None
    auth_time: datetime
    amr: tuple[str, ...]
    expires_at: datetime
    used_at: datetime | None
    access_jti: str | None
    access_exp: datetime | None
    grant_id: str | None = None
    claims: dict[str, list[str]] | None = None  # OIDC Core 5.5 individual claims


def _hash(code: str) -> bytes:
    return hashlib.sha256(code.encode("utf-8")).digest()


class AuthCodeRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def create(self, grant: AuthCode, now: datetime) -> str:
        """Store a new code; returns the code itself (it goes to the browser only)."""
        code = secrets.token_urlsafe(32)
        self._conn.execute(
            insert(ac).values(
                code_hash=_hash(code),
                client_id=grant.client_id,
                user_id=grant.user_id,
                sid=grant.sid,
                redirect_uri=grant.redirect_uri,
                scope=grant.scope,
                nonce=grant.nonce,
                code_challenge=grant.code_challenge,
                auth_time=grant.auth_time,
                amr=list(grant.amr),
                created_at=now,
                expires_at=grant.expires_at,
                claims=grant.claims,
            )
        )
        return code

    def get(self, code: str) -> AuthCode | None:
        r = self._conn.execute(select(ac).where(ac.c.code_hash == _hash(code))).first()
        if r is None:
            return None
        return AuthCode(
            client_id=r.client_id,
            user_id=r.user_id,
            sid=r.sid,
            redirect_uri=r.redirect_uri,
            scope=r.scope,
            nonce=r.nonce,
            code_challenge=r.code_challenge,
            auth_time=as_utc(r.auth_time),
            amr=tuple(r.amr),
            expires_at=as_utc(r.expires_at),
            used_at=as_utc(r.used_at) if r.used_at is not None else None,
            access_jti=r.access_jti,
            access_exp=as_utc(r.access_exp) if r.access_exp is not None else None,
            grant_id=r.grant_id,
            claims=r.claims,
        )

    def redeem(
        self, code: str, now: datetime, access_jti: str, access_exp: datetime, grant_id: str
    ) -> bool:
        """Mark the code used; False if it already was (a conditional UPDATE, so exactly one
        of two concurrent exchanges wins)."""
        result = self._conn.execute(
            update(ac)
            .where(ac.c.code_hash == _hash(code), ac.c.used_at.is_(None))
            .values(used_at=now, access_jti=access_jti, access_exp=access_exp, grant_id=grant_id)
        )
        return int(result.rowcount) == 1

    def purge_expired(self, before: datetime) -> int:
        return int(self._conn.execute(delete(ac).where(ac.c.expires_at <= before)).rowcount)
