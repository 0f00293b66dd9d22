"""Consents users gave relying parties (scopes approved per user and client)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select

from ostiary.store.tables_oidc_code import oidc_consents as oc


class ConsentRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def scopes(self, user_id: str, client_id: str) -> set[str]:
        row = self._conn.execute(
            select(oc.c.scopes).where(oc.c.user_id == user_id, oc.c.client_id == client_id)
        ).first()
        return set(row.scopes) if row is not None else set()

    def grant(self, user_id: str, client_id: str, scopes: set[str], now: datetime) -> None:
        """Replace the consent with ``scopes`` (the union the caller computed)."""
        where = (oc.c.user_id == user_id) & (oc.c.client_id == client_id)
        self._conn.execute(delete(oc).where(where))
        self._conn.execute(
            insert(oc).values(
                user_id=user_id, client_id=client_id, scopes=sorted(scopes), granted_at=now
            )
        )
