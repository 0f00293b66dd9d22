"""Single-use caches for DPoP ``jti``s and client assertion ``jti``s: Redis (``SET NX EX``)
when ``OSTIARY_REDIS_URL`` is set, so every node sees every use; in-process otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from ostiary.oidc.errors import TemporarilyUnavailable


class MemoryReplayCache:
    def __init__(self, now: Callable[[], float] = time.monotonic, max_entries: int = 1_000_000):
        self._now = now
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max = max_entries
        self._next_sweep = 0.0

    def first_use(self, key: str, ttl_seconds: int) -> bool:
        now = self._now()
        with self._lock:
            if now >= self._next_sweep or len(self._seen) >= self._max:
                self._sweep(now)
            expires = self._seen.get(key)
            if expires is not None and expires > now:
                return False
            self._seen[key] = now + ttl_seconds
            return True

    def _sweep(self, now: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if v > now}
        self._next_sweep = now + 10


class RedisReplayCache:
    def __init__(self, client: Any, prefix: str = "ostiary:replay:") -> None:
        self._redis = client
        self._prefix = prefix

    def first_use(self, key: str, ttl_seconds: int) -> bool:
        import redis

        try:
            return bool(self._redis.set(self._prefix + key, b"1", nx=True, ex=max(ttl_seconds, 1)))
        except redis.RedisError:
            # Fail closed: without the shared cache a replay could not be detected.
            raise TemporarilyUnavailable("the replay cache is unavailable") from None


def build(redis_url: str | None, prefix: str = "ostiary:replay:") -> Any:
    if not redis_url:
        return MemoryReplayCache()
    import redis

    return RedisReplayCache(redis.Redis.from_url(redis_url), prefix)
