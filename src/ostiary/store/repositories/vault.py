"""Vault persistence: wrapped data keys and named sealed secrets."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from ostiary.core.clock import utcnow
from ostiary.core.crypto.vault import Vault, WrappedDataKey
from ostiary.store.db import Database
from ostiary.store.tables import vault_data_keys as dk
from ostiary.store.tables import vault_secrets as vs


def _row(r: Row[Any]) -> WrappedDataKey:
    return WrappedDataKey(
        id=r.id, master_kid=r.master_kid, wrapped=bytes(r.wrapped), created_at=r.created_at
    )


class DataKeyRepository:
    """Implements :class:`ostiary.core.crypto.vault.DataKeyStore` inside the caller's
    transaction (init, rotate-master)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def active(self) -> WrappedDataKey | None:
        stmt = select(dk).order_by(dk.c.created_at.desc(), dk.c.id.desc()).limit(1)
        row = self._conn.execute(stmt).first()
        return _row(row) if row else None

    def get(self, dek_id: str) -> WrappedDataKey | None:
        row = self._conn.execute(select(dk).where(dk.c.id == dek_id)).first()
        return _row(row) if row else None

    def add(self, key: WrappedDataKey) -> None:
        self._conn.execute(
            insert(dk).values(
                id=key.id, master_kid=key.master_kid, wrapped=key.wrapped, created_at=utcnow()
            )
        )

    def all(self) -> list[WrappedDataKey]:
        return [_row(r) for r in self._conn.execute(select(dk).order_by(dk.c.created_at))]

    def rewrap(self, dek_id: str, master_kid: str, wrapped: bytes) -> None:
        stmt = update(dk).where(dk.c.id == dek_id).values(master_kid=master_kid, wrapped=wrapped)
        self._conn.execute(stmt)


class EngineDataKeys:
    """The same store for a long-lived vault: each call is its own short transaction.
    The vault caches unwrapped keys, so this is read about once per data key per process."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def active(self) -> WrappedDataKey | None:
        with self._db.read() as conn:
            return DataKeyRepository(conn).active()

    def get(self, dek_id: str) -> WrappedDataKey | None:
        with self._db.read() as conn:
            return DataKeyRepository(conn).get(dek_id)

    def add(self, key: WrappedDataKey) -> None:
        with self._db.begin() as conn:
            DataKeyRepository(conn).add(key)

    def all(self) -> list[WrappedDataKey]:
        with self._db.read() as conn:
            return DataKeyRepository(conn).all()

    def rewrap(self, dek_id: str, master_kid: str, wrapped: bytes) -> None:
        with self._db.begin() as conn:
            DataKeyRepository(conn).rewrap(dek_id, master_kid, wrapped)


class SecretRepository:
    """Named secrets sealed by the vault (the HMAC pepper, signing keys, ...).

    The vault context is ``secret:<name>``, so a sealed value moved to another name fails."""

    def __init__(self, conn: Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault

    def get(self, name: str) -> bytes | None:
        sealed = self._conn.execute(select(vs.c.sealed).where(vs.c.name == name)).scalar()
        return None if sealed is None else self._vault.open(sealed, f"secret:{name}")

    def put(self, name: str, value: bytes) -> None:
        sealed = self._vault.seal(value, f"secret:{name}")
        exists = self._conn.execute(select(vs.c.name).where(vs.c.name == name)).first()
        if exists:
            self._conn.execute(update(vs).where(vs.c.name == name).values(sealed=sealed))
        else:
            self._conn.execute(insert(vs).values(name=name, sealed=sealed, created_at=utcnow()))

    def get_or_create(self, name: str, factory: Callable[[], bytes]) -> bytes:
        """Race-safe: two workers starting at once on a fresh database both miss the read;
        the insert that loses (a savepoint keeps the caller's transaction usable) reads the
        winner's value, so every process ends up with the same secret."""
        value = self.get(name)
        if value is not None:
            return value
        value = factory()
        sealed = self._vault.seal(value, f"secret:{name}")
        try:
            with self._conn.begin_nested():
                self._conn.execute(insert(vs).values(name=name, sealed=sealed, created_at=utcnow()))
        except IntegrityError:
            won = self.get(name)
            assert won is not None
            return won
        return value
