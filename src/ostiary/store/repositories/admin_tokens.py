"""Admin API tokens and held approvals."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from ostiary.keys.admin_tokens import AdminToken
from ostiary.keys.models import KeyStatus
from ostiary.store.tables_keys import admin_tokens as at
from ostiary.store.tables_keys import key_approvals as ap


def _token(r: Row[Any]) -> AdminToken:
    return AdminToken(
        id=r.id,
        name=r.name,
        scopes=frozenset(r.scopes),
        status=KeyStatus(r.status),
        created_at=r.created_at,
        expires_at=r.expires_at,
        secret_hmac=bytes(r.secret_hmac),
        last4=r.last4,
        created_by=r.created_by,
    )


class AdminTokenRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, t: AdminToken) -> None:
        self._conn.execute(
            insert(at).values(
                id=t.id,
                name=t.name,
                scopes=sorted(t.scopes),
                status=t.status.value,
                created_by=t.created_by,
                created_at=t.created_at,
                expires_at=t.expires_at,
                secret_hmac=t.secret_hmac,
                last4=t.last4,
            )
        )

    def get(self, token_id: str) -> AdminToken | None:
        row = self._conn.execute(select(at).where(at.c.id == token_id)).first()
        return _token(row) if row else None

    def list(self) -> list[AdminToken]:
        return [_token(r) for r in self._conn.execute(select(at).order_by(at.c.created_at))]

    def revoke(self, token_id: str, when: datetime) -> bool:
        stmt = update(at).where(at.c.id == token_id, at.c.status != KeyStatus.REVOKED.value)
        return bool(self._conn.execute(stmt.values(status="revoked", revoked_at=when)).rowcount)


class ApprovalRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(
        self,
        approval_id: str,
        kind: str,
        key_id: str | None,
        payload: dict[str, Any],
        requested_by: str,
        at_: datetime,
    ) -> None:
        self._conn.execute(
            insert(ap).values(
                id=approval_id,
                kind=kind,
                key_id=key_id,
                payload=payload,
                status="pending",
                requested_by=requested_by,
                requested_at=at_,
            )
        )

    def get(self, approval_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(select(ap).where(ap.c.id == approval_id)).first()
        return dict(row._mapping) if row else None

    def list(self, status: str | None = None) -> list[dict[str, Any]]:
        stmt = select(ap).order_by(ap.c.requested_at)
        if status:
            stmt = stmt.where(ap.c.status == status)
        return [dict(r._mapping) for r in self._conn.execute(stmt)]

    def decide(self, approval_id: str, status: str, by: str, when: datetime) -> bool:
        """Pending -> approved/denied exactly once (a concurrent second decision loses)."""
        stmt = update(ap).where(ap.c.id == approval_id, ap.c.status == "pending")
        res = self._conn.execute(stmt.values(status=status, decided_by=by, decided_at=when))
        return bool(res.rowcount)
