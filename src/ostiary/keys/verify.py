"""Authenticating a bearer provisioning key.

Order matters for cost and for leaks: shape and checksum first (no I/O), then one lookup
by id (served from a short-lived in-process cache when warm), then a constant-time
comparison of HMAC(pepper, secret) against each live version.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
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


class CachedKeyReader:
    """Key records (and misses) for ``ttl`` seconds, so a warm verify does no I/O.

    Revocation and disabling call :meth:`invalidate` on this node (and, with Redis, on
    every node through pub/sub), so the TTL bounds staleness only for changes made by a
    process that could not publish. Entries are evicted oldest-first beyond ``max_entries``
    so a flood of well-formed unknown ids cannot grow memory without bound."""

    def __init__(
        self, reader: KeyReader, clock: Clock, ttl: float = 5.0, max_entries: int = 10_000
    ) -> None:
        self._reader = reader
        self._clock = clock
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, KeyRecord | None]] = {}
        self._lock = threading.Lock()

    def get_for_auth(self, key_id: str) -> KeyRecord | None:
        now = self._clock.monotonic()
        hit = self._entries.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1]
        record = self._reader.get_for_auth(key_id)
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.pop(next(iter(self._entries)), None)
            self._entries[key_id] = (now + self._ttl, record)
        return record

    def invalidate(self, key_id: str | None = None) -> None:
        with self._lock:
            if key_id is None:
                self._entries.clear()
            else:
                self._entries.pop(key_id, None)


class KeyVerifier:
    """``verify(token)`` is the one entry point, also for the token endpoint when a
    provisioning key is used as a client secret (the caller then decides on DPoP)."""

    def __init__(
        self,
        reader: KeyReader,
        pepper: bytes,
        clock: Clock,
        *,
        idle_expiry: timedelta | None = None,
        last_seen: Callable[[str], datetime | None] | None = None,
    ) -> None:
        self._reader = reader
        self._pepper = pepper
        self._clock = clock
        self._idle = idle_expiry
        self._last_seen = last_seen

    def verify(self, token: str) -> KeyPrincipal:
        parsed = key_format.parse(token)
        if parsed is None:
            raise InvalidKey("malformed")
        record = self._reader.get_for_auth(parsed.key_id)
        # Compute the HMAC even for an unknown id so timing does not reveal which ids exist.
        digest = secret_hmac(self._pepper, parsed.secret)
        if record is None:
            raise InvalidKey("unknown", parsed.key_id)
        matched = None
        for secret in record.secrets:
            if constant_time_equal(digest, secret.secret_hmac):
                matched = secret
        if matched is None:
            raise InvalidKey("wrong", parsed.key_id)
        self._check_live(record, matched.not_after)
        b = record.binding
        return KeyPrincipal(
            key_id=record.id,
            version=matched.version,
            name=record.name,
            scopes=record.scopes,
            require_dpop=b.require_dpop,
            allowed_cidrs=b.allowed_cidrs,
            attributes=b.attributes,
        )

    def possessed(self, token: str, reader: KeyReader | None = None) -> KeyRecord | None:
        """The key whose secret (any version, any status) ``token`` carries, else ``None``.

        For leak reports: a leaked disabled or rotated-out secret is still a leak, and
        proving possession is all a self-report needs. Reads past the cache when given a
        ``reader`` so the decision uses the current record."""
        parsed = key_format.parse(token)
        if parsed is None:
            return None
        record = (reader or self._reader).get_for_auth(parsed.key_id)
        digest = secret_hmac(self._pepper, parsed.secret)
        if record is None:
            return None
        hit = False
        for secret in record.secrets:
            hit |= constant_time_equal(digest, secret.secret_hmac)
        return record if hit else None

    def _check_live(self, record: KeyRecord, not_after: datetime | None) -> None:
        now = self._clock.now()
        if record.status is KeyStatus.REVOKED:
            raise InvalidKey("revoked", record.id)
        if record.status is KeyStatus.DISABLED:
            raise InvalidKey("disabled", record.id)
        if as_utc(record.expires_at) <= now:
            raise InvalidKey("expired", record.id)
        if not_after is not None and as_utc(not_after) <= now:
            raise InvalidKey("rotated", record.id)
        if self._idle is not None and self._idle_since(record, now):
            raise InvalidKey("idle", record.id)

    def _idle_since(self, record: KeyRecord, now: datetime) -> bool:
        assert self._idle is not None
        if self._last_seen is not None:  # the hot path: this process saw it recently
            seen = self._last_seen(record.id)
            if seen is not None and now - seen <= self._idle:
                return False
        return now - self.last_activity(record) > self._idle

    def last_activity(self, record: KeyRecord) -> datetime:
        """The latest of: last recorded use, last use seen by this process, newest secret
        (a rotation counts as activity)."""
        times = [as_utc(record.created_at)]
        if record.last_used_at is not None:
            times.append(as_utc(record.last_used_at))
        current = record.current_secret
        if current is not None:
            times.append(as_utc(current.created_at))
        if self._last_seen is not None:
            seen = self._last_seen(record.id)
            if seen is not None:
                times.append(seen)
        return max(times)
