"""OAuth client settings of a provisioning key: registered public JWKs (RFC 7523) and
whether DPoP is required."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ostiary.store.tables_oidc import oidc_key_credentials as kc


@dataclass(frozen=True)
class KeyCredentials:
    key_id: str
    jwks: dict[str, Any] = field(default_factory=lambda: {"keys": []})
    require_dpop: bool = False

    @property
    def has_keys(self) -> bool:
        return bool(self.jwks.get("keys"))


class KeyCredentialRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, key_id: str) -> KeyCredentials | None:
        row = self._conn.execute(select(kc).where(kc.c.key_id == key_id)).first()
        if row is None:
            return None
        return KeyCredentials(row.key_id, dict(row.jwks), bool(row.require_dpop))

    def put(self, creds: KeyCredentials, now: datetime) -> None:
        values = {"jwks": creds.jwks, "require_dpop": creds.require_dpop, "updated_at": now}
        exists = self._conn.execute(select(kc.c.key_id).where(kc.c.key_id == creds.key_id))
        if exists.first():
            self._conn.execute(update(kc).where(kc.c.key_id == creds.key_id).values(**values))
        else:
            self._conn.execute(insert(kc).values(key_id=creds.key_id, **values))

    def delete(self, key_id: str) -> None:
        self._conn.execute(delete(kc).where(kc.c.key_id == key_id))
