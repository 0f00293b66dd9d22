"""Authenticating a bearer provisioning key.

Order matters for cost and for leaks: shape and checksum first (no I/O), then one lookup
by id, then a constant-time comparison of HMAC(pepper, secret) against each live version.
"""

from __future__ import annotations

from typing import Protocol

from ostiary.core.clock import Clock, as_utc
from ostiary.core.crypto.hashing import constant_time_equal, hmac_sha256
from ostiary.keys import format as key_format
from ostiary.keys.errors import InvalidKey
from ostiary.keys.models import KeyPrincipal, KeyRecord, KeyStatus


class KeyReader(Protocol):
    def get_for_auth(self, key_id: str) -> KeyRecord | None: ...


def secret_hmac(pepper: bytes, secret: str) -> bytes:
    return hmac_sha256(pepper, secret.encode("ascii"))


def parse_bearer(header: str | None) -> str:
    if not header:
        raise InvalidKey("missing")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidKey("malformed")
    return token.strip()


class KeyVerifier:
    def __init__(self, reader: KeyReader, pepper: bytes, clock: Clock) -> None:
        self._reader = reader
        self._pepper = pepper
        self._clock = clock

    def verify(self, token: str) -> KeyPrincipal:
        parsed = key_format.parse(token)
        if parsed is None:
            raise InvalidKey("malformed")
        record = self._reader.get_for_auth(parsed.key_id)
        # Compute the HMAC even for an unknown id so timing does not reveal which ids exist.
        digest = secret_hmac(self._pepper, parsed.secret)
        if record is None:
            raise InvalidKey("unknown")
        now = self._clock.now()
        matched = None
        for secret in record.secrets:
            if constant_time_equal(digest, secret.secret_hmac):
                matched = secret
        if matched is None:
            raise InvalidKey("wrong")
        if record.status is KeyStatus.REVOKED:
            raise InvalidKey("revoked")
        if record.status is KeyStatus.DISABLED:
            raise InvalidKey("disabled")
        if as_utc(record.expires_at) <= now:
            raise InvalidKey("expired")
        if matched.not_after is not None and as_utc(matched.not_after) <= now:
            raise InvalidKey("rotated")
        return KeyPrincipal(
            key_id=record.id, version=matched.version, name=record.name, scopes=record.scopes
        )
