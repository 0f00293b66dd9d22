"""Envelope encryption for every secret at rest.

Secrets are sealed with AES-256-GCM under a *data key*; data keys are stored wrapped by a
*master key* (see :mod:`keyring`). A sealed value is ``v1.<data key id>.<nonce>.<ct>``, so
each ciphertext records its key id. Rotating the master key re-wraps only the data keys:
sealed values never change, and running processes keep their unwrapped data keys, so the
rotation needs no downtime.

The *context* (for example ``"signing_key:<id>"``) is bound as associated data, so a
ciphertext copied into another row or purpose fails to open.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ostiary.core.crypto.keyring import NONCE_BYTES, MasterKeyProvider, b64d, b64e
from ostiary.core.errors import VaultError
from ostiary.core.ids import new_id

VERSION = "v1"


@dataclass(frozen=True)
class WrappedDataKey:
    id: str
    master_kid: str
    wrapped: bytes
    created_at: datetime | None = None


class DataKeyStore(Protocol):
    """Persistence for wrapped data keys (implemented in ``ostiary.store``)."""

    def active(self) -> WrappedDataKey | None: ...

    def get(self, dek_id: str) -> WrappedDataKey | None: ...

    def add(self, key: WrappedDataKey) -> None: ...

    def all(self) -> list[WrappedDataKey]: ...

    def rewrap(self, dek_id: str, master_kid: str, wrapped: bytes) -> None: ...


def _aad(dek_id: str) -> bytes:
    return b"ostiary data key\x00" + dek_id.encode()


class Vault:
    def __init__(self, provider: MasterKeyProvider, store: DataKeyStore) -> None:
        self._provider = provider
        self._store = store
        self._plain: dict[str, bytes] = {}
        self._active_id: str | None = None
        self._lock = threading.Lock()

    @property
    def provider(self) -> MasterKeyProvider:
        return self._provider

    def create_data_key(self) -> str:
        """Make a new data key the active one (used by ``init`` and data-key rotation)."""
        dek_id = new_id()
        plain = AESGCM.generate_key(bit_length=256)
        kid, wrapped = self._provider.wrap(plain, _aad(dek_id))
        self._store.add(WrappedDataKey(id=dek_id, master_kid=kid, wrapped=wrapped))
        with self._lock:
            self._plain[dek_id] = plain
            self._active_id = dek_id
        return dek_id

    def _data_key(self, dek_id: str) -> bytes:
        plain = self._plain.get(dek_id)
        if plain is not None:
            return plain
        row = self._store.get(dek_id)
        if row is None:
            raise VaultError(f"data key {dek_id} does not exist")
        plain = self._provider.unwrap(row.master_kid, row.wrapped, _aad(dek_id))
        with self._lock:
            self._plain[dek_id] = plain
        return plain

    def _active(self) -> str:
        if self._active_id is None:
            row = self._store.active()
            if row is None:
                raise VaultError("the vault has no data key: run 'ostiary init'")
            self._active_id = row.id
        return self._active_id

    def seal(self, plaintext: bytes, context: str) -> str:
        dek_id = self._active()
        nonce = os.urandom(NONCE_BYTES)
        ct = AESGCM(self._data_key(dek_id)).encrypt(nonce, plaintext, context.encode())
        return f"{VERSION}.{dek_id}.{b64e(nonce)}.{b64e(ct)}"

    def open(self, sealed: str, context: str) -> bytes:
        try:
            version, dek_id, nonce, ct = sealed.split(".")
        except ValueError:
            raise VaultError("not a sealed value") from None
        if version != VERSION:
            raise VaultError(f"unknown sealed value version {version!r}")
        try:
            return AESGCM(self._data_key(dek_id)).decrypt(b64d(nonce), b64d(ct), context.encode())
        except InvalidTag:
            raise VaultError(f"sealed value for {context!r} failed authentication") from None

    def rewrap_all(self) -> int:
        """Re-wrap every data key under the provider's active master key; returns how many
        changed. Callers run this inside one transaction."""
        changed = 0
        target = self._provider.active_kid
        for row in self._store.all():
            if row.master_kid == target:
                continue
            plain = self._provider.unwrap(row.master_kid, row.wrapped, _aad(row.id))
            kid, wrapped = self._provider.wrap(plain, _aad(row.id))
            self._store.rewrap(row.id, kid, wrapped)
            changed += 1
        return changed
