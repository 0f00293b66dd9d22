"""A provisioning key's record and OAuth settings, read once per ``ttl`` seconds.

The token endpoint's throughput target leaves no room for a database read per token; a
one-second cache bounds how long a disabled or revoked key can still obtain tokens. The
secret itself is still verified (HMAC, constant time) on every request.
"""

from __future__ import annotations

import threading

from ostiary.core.clock import Clock
from ostiary.keys.models import KeyRecord
from ostiary.store.db import Database
from ostiary.store.repositories.key_credentials import KeyCredentialRepository, KeyCredentials
from ostiary.store.repositories.keys import KeyRepository

Entry = tuple[float, KeyRecord | None, KeyCredentials]
MAX_ENTRIES = 10_000


class ClientCache:
    def __init__(self, db: Database, clock: Clock, ttl: float) -> None:
        self._db = db
        self._clock = clock
        self._ttl = ttl
        self._entries: dict[str, Entry] = {}
        self._lock = threading.Lock()

    def get(self, key_id: str) -> tuple[KeyRecord | None, KeyCredentials]:
        now = self._clock.monotonic()
        hit = self._entries.get(key_id)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        with self._db.read() as conn:
            record = KeyRepository(conn).get_for_auth(key_id)
            creds = KeyCredentialRepository(conn).get(key_id) if record else None
        creds = creds or KeyCredentials(key_id)
        if record is not None:  # unknown ids are not cached: they cannot fill the cache
            with self._lock:
                if len(self._entries) >= MAX_ENTRIES:
                    self._entries.clear()
                self._entries[key_id] = (now + self._ttl, record, creds)
        return record, creds

    def fresh(self, key_id: str) -> bool:
        hit = self._entries.get(key_id)
        return hit is not None and hit[0] > self._clock.monotonic()

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._entries.pop(key_id, None)
