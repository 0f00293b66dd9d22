"""Provisioning key persistence. Only HMACs of secrets are ever written."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Row, func, insert, select, update

from ostiary.core.errors import NotFound
from ostiary.keys.models import KeyBinding, KeyRecord, KeySecret, KeyStatus
from ostiary.keys.usage import Use
from ostiary.store.tables import provisioning_key_secrets as ks
from ostiary.store.tables import provisioning_keys as pk
from ostiary.store.tables import users
from ostiary.store.tables_keys import provisioning_key_settings as kset

MAX_NETWORKS = 50  # remembered per key for new-network detection


def _secret(r: Row[Any]) -> KeySecret:
    return KeySecret(
        version=r.version,
        secret_hmac=bytes(r.secret_hmac),
        last4=r.last4,
        created_at=r.created_at,
        not_after=r.not_after,
    )


def _binding(r: Row[Any] | None) -> KeyBinding:
    if r is None:
        return KeyBinding()
    attrs = r.attributes
    return KeyBinding(
        require_dpop=bool(r.require_dpop),
        allowed_cidrs=tuple(r.allowed_cidrs or ()),
        attributes={k: frozenset(v) for k, v in attrs.items()} if attrs else None,
        rotate_every=(
            timedelta(seconds=r.rotate_every_seconds) if r.rotate_every_seconds else None
        ),
        rotation_overlap=timedelta(seconds=r.rotation_overlap_seconds),
        delivery=r.delivery,
        next_rotation_at=r.next_rotation_at,
        warnings_sent=tuple(r.warnings_sent or ()),
        known_networks=tuple(r.known_networks or ()),
    )


def _binding_values(b: KeyBinding) -> dict[str, Any]:
    return {
        "require_dpop": b.require_dpop,
        "allowed_cidrs": list(b.allowed_cidrs),
        "attributes": {k: sorted(v) for k, v in b.attributes.items()} if b.attributes else None,
        "rotate_every_seconds": int(b.rotate_every.total_seconds()) if b.rotate_every else None,
        "rotation_overlap_seconds": int(b.rotation_overlap.total_seconds()),
        "delivery": b.delivery,
        "next_rotation_at": b.next_rotation_at,
        "warnings_sent": sorted(b.warnings_sent),
        "known_networks": list(b.known_networks)[-MAX_NETWORKS:],
    }


def _record(r: Row[Any], secrets: list[KeySecret], binding: KeyBinding) -> KeyRecord:
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
        binding=binding,
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
        if record.binding != KeyBinding():
            self.set_binding(record.id, record.binding)

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

    def set_binding(self, key_id: str, binding: KeyBinding) -> None:
        values = _binding_values(binding)
        exists = self._conn.execute(select(kset.c.key_id).where(kset.c.key_id == key_id)).first()
        if exists:
            self._conn.execute(update(kset).where(kset.c.key_id == key_id).values(**values))
        else:
            self._conn.execute(insert(kset).values(key_id=key_id, **values))

    def get(self, key_id: str) -> KeyRecord | None:
        row = self._conn.execute(select(pk).where(pk.c.id == key_id)).first()
        if row is None:
            return None
        secrets = self._conn.execute(select(ks).where(ks.c.key_id == key_id)).all()
        b = self._conn.execute(select(kset).where(kset.c.key_id == key_id)).first()
        return _record(row, [_secret(s) for s in secrets], _binding(b))

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
        bindings = {b.key_id: _binding(b) for b in self._conn.execute(select(kset)).all()}
        return [_record(r, by_key[r.id], bindings.get(r.id, KeyBinding())) for r in rows]

    def set_status(self, key_id: str, status: KeyStatus, at: datetime) -> None:
        values: dict[str, Any] = {"status": status.value}
        if status is KeyStatus.REVOKED:
            values["revoked_at"] = at
        elif status is KeyStatus.DISABLED:
            values["disabled_at"] = at
        else:
            values["disabled_at"] = None
        self._conn.execute(update(pk).where(pk.c.id == key_id).values(**values))

    def set_expiry(self, key_id: str, expires_at: datetime) -> None:
        self._conn.execute(update(pk).where(pk.c.id == key_id).values(expires_at=expires_at))

    def end_secret(self, key_id: str, version: int, not_after: datetime) -> None:
        stmt = update(ks).where(ks.c.key_id == key_id, ks.c.version == version)
        self._conn.execute(stmt.values(not_after=not_after))

    def record_use(self, key_id: str, at: datetime, ip: str | None, agent: str | None) -> None:
        stmt = update(pk).where(pk.c.id == key_id)
        self._conn.execute(
            stmt.values(last_used_at=at, last_used_ip=ip, last_used_user_agent=(agent or "")[:512])
        )

    def record_uses(self, uses: dict[str, Use]) -> None:
        """One batch from the usage tracker: last use per key and newly seen networks."""
        for key_id, use in uses.items():
            self.record_use(key_id, use.at, use.ip, use.agent)
            if use.networks:
                record = self.get(key_id)
                if record is None:
                    continue
                known = record.binding.known_networks
                merged = known + tuple(sorted(use.networks - set(known)))
                self.set_binding(key_id, _replace(record.binding, known_networks=merged))

    def claim_rotation(self, key_id: str, now: datetime, lease_until: datetime) -> bool:
        """Atomically take a due scheduled rotation (one conditional UPDATE), so only one
        node or worker delivers a new secret; the lease is the retry delay on failure."""
        due = (kset.c.next_rotation_at.is_(None)) | (kset.c.next_rotation_at <= now)
        stmt = update(kset).where(kset.c.key_id == key_id, due)
        return bool(self._conn.execute(stmt.values(next_rotation_at=lease_until)).rowcount)

    def count_users(self) -> int:
        return int(self._conn.execute(select(func.count()).select_from(users)).scalar() or 0)


def _replace(b: KeyBinding, **changes: Any) -> KeyBinding:
    from dataclasses import replace

    return replace(b, **changes)
