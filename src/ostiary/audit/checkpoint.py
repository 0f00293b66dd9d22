"""Signed checkpoints: "the log had ``tree_size`` events with root ``root_hash`` at ``time``".

The signed body is a short text in the spirit of C2SP's tlog-checkpoint note::

    ostiary audit checkpoint v1
    <origin>
    <tree size>
    <base64 root hash>
    <unix time in milliseconds>

signed with Ed25519 by the audit signing key (its private half sealed in the vault). The
key id is the first 8 bytes of SHA-256 over the raw public key, in hex.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_public_key,
)

from ostiary.audit.errors import AuditError

HEADER = "ostiary audit checkpoint v1"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    tree_size: int
    root_hash: bytes
    time_ms: int
    key_id: str
    signature: bytes

    @property
    def time(self) -> datetime:
        return datetime.fromtimestamp(self.time_ms / 1000, UTC)

    def body(self) -> bytes:
        return checkpoint_body(self.origin, self.tree_size, self.root_hash, self.time_ms)

    def as_dict(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "tree_size": self.tree_size,
            "root_hash": b64(self.root_hash),
            "time_ms": self.time_ms,
            "time": self.time.isoformat(),
            "key_id": self.key_id,
            "signature": b64(self.signature),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Checkpoint:
        try:
            return cls(
                origin=str(doc["origin"]),
                tree_size=int(doc["tree_size"]),
                root_hash=unb64(doc["root_hash"]),
                time_ms=int(doc["time_ms"]),
                key_id=str(doc["key_id"]),
                signature=unb64(doc["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError(f"not a checkpoint: {exc}") from None


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode(), validate=True)


def checkpoint_body(origin: str, tree_size: int, root_hash: bytes, time_ms: int) -> bytes:
    return f"{HEADER}\n{origin}\n{tree_size}\n{b64(root_hash)}\n{time_ms}\n".encode()


class CheckpointSigner:
    """The audit signing key. Only its 32-byte private seed is stored (sealed)."""

    def __init__(self, seed: bytes) -> None:
        self._key = Ed25519PrivateKey.from_private_bytes(seed)
        self.public = CheckpointVerifier(self._key.public_key())

    @staticmethod
    def generate_seed() -> bytes:
        return Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption()
        )

    def sign(self, origin: str, tree_size: int, root_hash: bytes, at: datetime) -> Checkpoint:
        time_ms = int(at.timestamp() * 1000)
        body = checkpoint_body(origin, tree_size, root_hash, time_ms)
        return Checkpoint(
            origin, tree_size, root_hash, time_ms, self.public.key_id, self._key.sign(body)
        )


class CheckpointVerifier:
    def __init__(self, key: Ed25519PublicKey) -> None:
        self._key = key
        self.raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.key_id = hashlib.sha256(self.raw).hexdigest()[:16]

    @classmethod
    def from_pem(cls, pem: bytes) -> CheckpointVerifier:
        key = load_pem_public_key(pem)
        if not isinstance(key, Ed25519PublicKey):
            raise AuditError("the audit public key must be an Ed25519 key")
        return cls(key)

    def pem(self) -> str:
        return self._key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()

    def verify(self, checkpoint: Checkpoint) -> bool:
        if checkpoint.key_id != self.key_id:
            return False
        try:
            self._key.verify(checkpoint.signature, checkpoint.body())
        except InvalidSignature:
            return False
        return True
