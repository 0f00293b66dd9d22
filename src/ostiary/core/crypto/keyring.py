"""Master keys: the key-encryption keys that wrap the vault's data keys.

A :class:`MasterKeyProvider` is the pluggable KMS interface: anything that can wrap and
unwrap 32-byte data keys under a named key id (a cloud KMS, an HSM, or the local
:class:`LocalKeyring` that reads ``OSTIARY_MASTER_KEY`` or the key file).
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ostiary.core.errors import ConfigError, VaultError

KEY_BYTES = 32
NONCE_BYTES = 12


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class MasterKeyProvider(Protocol):
    """Wraps data keys. ``active_kid`` names the key new wraps use."""

    @property
    def active_kid(self) -> str: ...

    def kids(self) -> list[str]: ...

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[str, bytes]: ...

    def unwrap(self, kid: str, wrapped: bytes, aad: bytes) -> bytes: ...


def kid_for(key: bytes) -> str:
    """A key's id is derived from the key, so the same key always has the same id and
    a wrong key is detected by name before any decryption is tried."""
    return "mk-" + hashlib.sha256(b"ostiary master key id\x00" + key).hexdigest()[:16]


def parse_key(text: str, what: str) -> bytes:
    try:
        key = b64d(text.strip())
    except (ValueError, TypeError):
        raise ConfigError(f"invalid setting {what}: not base64url") from None
    if len(key) != KEY_BYTES:
        raise ConfigError(f"invalid setting {what}: must decode to {KEY_BYTES} bytes")
    return key


def generate_key() -> bytes:
    return os.urandom(KEY_BYTES)


class LocalKeyring:
    """AES-256-GCM key wrapping with keys held in this process."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise ConfigError("no master key: set OSTIARY_MASTER_KEY or run 'ostiary init'")
        self._keys = {kid_for(k): k for k in keys}
        self._active = kid_for(keys[0])

    @property
    def active_kid(self) -> str:
        return self._active

    def kids(self) -> list[str]:
        return list(self._keys)

    def wrap(self, data_key: bytes, aad: bytes) -> tuple[str, bytes]:
        nonce = os.urandom(NONCE_BYTES)
        sealed = AESGCM(self._keys[self._active]).encrypt(nonce, data_key, aad)
        return self._active, nonce + sealed

    def unwrap(self, kid: str, wrapped: bytes, aad: bytes) -> bytes:
        key = self._keys.get(kid)
        if key is None:
            raise VaultError(f"master key {kid} is not available to this process")
        try:
            return AESGCM(key).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
        except InvalidTag:
            raise VaultError(f"data key wrapped by {kid} failed authentication") from None


def read_key_file(path: Path) -> list[bytes]:
    """The key file is JSON ``{"keys": ["<b64url>", ...]}``; the first key is active."""
    try:
        doc = json.loads(path.read_text())
        return [parse_key(k, str(path)) for k in doc["keys"]]
    except FileNotFoundError:
        raise ConfigError(f"master key file {path} does not exist: run 'ostiary init'") from None
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"master key file {path} is not valid") from None


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Write atomically with mode 0600 so a crash never leaves a half-written key file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"keys": [b64e(k) for k in keys]}, fh)
        fh.write("\n")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_provider(
    master_key: str | None,
    previous_key: str | None,
    key_file: Path,
    kms_provider: str | None = None,
) -> MasterKeyProvider:
    """Choose the master key source: a KMS factory, the environment, or the key file."""
    if kms_provider:
        return _import_factory(kms_provider)()
    if master_key:
        keys = [parse_key(master_key, "OSTIARY_MASTER_KEY")]
        if previous_key:
            keys.append(parse_key(previous_key, "OSTIARY_MASTER_KEY_PREVIOUS"))
        return LocalKeyring(keys)
    return LocalKeyring(read_key_file(key_file))


def _import_factory(path: str) -> Callable[[], MasterKeyProvider]:
    module, _, attr = path.partition(":")
    try:
        factory: Callable[[], MasterKeyProvider] = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        raise ConfigError(f"invalid setting OSTIARY_KMS_PROVIDER: cannot import {path}") from None
    return factory
