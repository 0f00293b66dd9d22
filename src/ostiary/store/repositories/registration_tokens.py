"""RFC 7591 initial access tokens and RFC 7592 registration access tokens: shown once,
stored as HMAC-SHA256(pepper, token), looked up by that HMAC."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from ostiary.core.clock import as_utc
from ostiary.core.crypto.hashing import hmac_sha256
from ostiary.store.tables_oidc import oidc_registration_tokens as rt

INITIAL = "initial"
CLIENT = "client"
PREFIXES = {INITIAL: "ost_it_", CLIENT: "ost_rt_"}


class RegistrationTokenRepository:
    def __init__(self, conn: Connection, pepper: bytes) -> None:
        self._conn = conn
        self._pepper = pepper

    def _digest(self, token: str) -> bytes:
        return hmac_sha256(self._pepper, token.encode("utf-8"))

    def issue(
        self,
        kind: str,
        now: datetime,
        *,
        client_id: str | None = None,
        expires_at: datetime | None = None,
    ) -> str:
        token = PREFIXES[kind] + secrets.token_urlsafe(32)
        self._conn.execute(
            insert(rt).values(
                token_hmac=self._digest(token),
                kind=kind,
                client_id=client_id,
                expires_at=expires_at,
                created_at=now,
            )
        )
        return token

    def check(self, token: str, kind: str, now: datetime) -> str | None:
        """The client id (or "" for an initial token) when ``token`` is live, else None."""
        if not token.startswith(PREFIXES[kind]):
            return None
        row = self._conn.execute(
            select(rt).where(rt.c.token_hmac == self._digest(token), rt.c.kind == kind)
        ).first()
        if row is None or (row.expires_at is not None and as_utc(row.expires_at) <= now):
            return None
        return row.client_id or ""

    def revoke_for_client(self, client_id: str) -> None:
        self._conn.execute(delete(rt).where(rt.c.client_id == client_id))
