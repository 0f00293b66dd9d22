"""Failed sign-in throttling (issue 6 point 4): fixed windows of failures, counted per
(username, client IP) and per username, in Redis when ``OSTIARY_REDIS_URL`` is set (every
node sees every failure) and in process memory otherwise.

Two limits so that one attacker cannot lock a user out cheaply from one address, and many
addresses cannot guess one password forever: 5 failures per username and IP, 20 per
username, each in a 15-minute window. While a limit is reached, sign-in is refused
without checking the password (no argon2 cost for the attacker to impose either).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from typing import Any

WINDOW = 15 * 60
PER_USER_AND_IP = 5
PER_USER = 20


def _keys(username: str, ip: str | None) -> list[tuple[str, int]]:
    user = hashlib.sha256(username.casefold().encode()).hexdigest()[:32]
    return [(f"u:{user}", PER_USER), (f"ui:{user}:{ip or '-'}", PER_USER_AND_IP)]


class MemoryThrottle:
    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._counts: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def _get(self, key: str) -> int:
        window_start, count = self._counts.get(key, (0.0, 0))
        return count if self._now() - window_start < WINDOW else 0

    def blocked(self, username: str, ip: str | None) -> bool:
        with self._lock:
            return any(self._get(k) >= limit for k, limit in _keys(username, ip))

    def failed(self, username: str, ip: str | None) -> None:
        now = self._now()
        with self._lock:
            if len(self._counts) > 100_000:
                self._counts = {k: v for k, v in self._counts.items() if now - v[0] < WINDOW}
            for key, _ in _keys(username, ip):
                start, count = self._counts.get(key, (now, 0))
                if now - start >= WINDOW:
                    start, count = now, 0
                self._counts[key] = (start, count + 1)


class RedisThrottle:
    def __init__(self, client: Any, prefix: str = "ostiary:signin:") -> None:
        self._redis = client
        self._prefix = prefix

    def blocked(self, username: str, ip: str | None) -> bool:
        keys = _keys(username, ip)
        values = self._redis.mget([self._prefix + k for k, _ in keys])
        return any(int(v or 0) >= limit for v, (_, limit) in zip(values, keys, strict=True))

    def failed(self, username: str, ip: str | None) -> None:
        pipe = self._redis.pipeline()
        for key, _ in _keys(username, ip):
            pipe.incr(self._prefix + key)
            pipe.expire(self._prefix + key, WINDOW, nx=True)
        pipe.execute()


def build(redis_url: str | None) -> Any:
    if not redis_url:
        return MemoryThrottle()
    import redis

    return RedisThrottle(redis.Redis.from_url(redis_url))
