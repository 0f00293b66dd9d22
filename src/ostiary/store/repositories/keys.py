"""Provisioning key persistence. Only HMACs of secrets are ever written."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update

from ostiary.core.errors import NotFound
from ostiary.keys.models import KeyRecord, KeySecret, KeyStatus
from ostiary.store.tables import provisioning_key_secrets as ks
from ostiary.store.tables import provisioning_keys as pk


def _secret(r: Row[Any]) -> KeySecret:
    return KeySecret(
        version=r.version,
        secret_hmac=bytes(r.secret_hmac),
        last4=r.last4,
        created_at=r.created_at,
        not_after=r.not_after,
    )


def _record(r: Row[Any], secrets: list[KeySecret]) -> KeyRecord:
    return KeyRecord(
        id=r.id,
        name=r.name,
        scopes=frozenset(r.scopes),
        status=KeyStatus(r.status),
        created_at=r.created_at,
        expires_at=r.expires_at,
        secrets=tuple(sorted(secrets, key=lambda s: s.version)),
        created_by=r.created_by,
        description=r.description,
        last_used_at=r.last_used_at,
        last_used_ip=r.last_used_ip,
    )


class KeyRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, record: KeyRecord) -> None:
        self._conn.execute(
            insert(pk).values(
                id=record.id,
                name=record.name,
                description=record.description,
                scopes=sorted(record.scopes),
                status=record.status.value,
                created_by=record.created_by,
                created_at=record.created_at,
                expires_at=record.expires_at,
            )
        )
        for secret in record.secrets:
            self.add_secret(record.id, secret)

    def add_secret(self, key_id: str, secret: KeySecret) -> None:
        self._conn.execute(
            insert(ks).values(
                key_id=key_id,
                version=secret.version,
                secret_hmac=secret.secret_hmac,
                last4=secret.last4,
                created_at=secret.created_at,
                not_after=secret.not_after,
            )
        )

    def get(self, key_id: str) -> KeyRecord | None:
        row = self._conn.execute(select(pk).where(pk.c.id == key_id)).first()
        if row is None:
            return None
        secrets = self._conn.execute(select(ks).where(ks.c.key_id == key_id)).all()
        return _record(row, [_secret(s) for s in secrets])

    get_for_auth = get

    def require(self, key_id: str) -> KeyRecord:
        record = self.get(key_id)
        if record is None:
            raise NotFound(f"no provisioning key {key_id}")
        return record

    def list(self) -> list[KeyRecord]:
        rows = self._conn.execute(select(pk).order_by(pk.c.created_at)).all()
        by_key: dict[str, list[KeySecret]] = defaultdict(list)
        for s in self._conn.execute(select(ks)).all():
            by_key[s.key_id].append(_secret(s))
        return [_record(r, by_key[r.id]) for r in rows]

    def set_status(self, key_id: str, status: KeyStatus, at: datetime) -> None:
        values: dict[str, Any] = {"status": status.value}
        if status is KeyStatus.REVOKED:
            values["revoked_at"] = at
        elif status is KeyStatus.DISABLED:
            values["disabled_at"] = at
        else:
            values["disabled_at"] = None
        self._conn.execute(update(pk).where(pk.c.id == key_id).values(**values))

    def end_secret(self, key_id: str, version: int, not_after: datetime) -> None:
        stmt = update(ks).where(ks.c.key_id == key_id, ks.c.version == version)
        self._conn.execute(stmt.values(not_after=not_after))

    def record_use(self, key_id: str, at: datetime, ip: str | None, agent: str | None) -> None:
        stmt = update(pk).where(pk.c.id == key_id)
        self._conn.execute(
            stmt.values(last_used_at=at, last_used_ip=ip, last_used_user_agent=(agent or "")[:512])
        )
