"""State shared between nodes through Redis (when ``OSTIARY_REDIS_URL`` is set).

- :class:`RedisLimiter`: GCRA in one Lua script, so the read-modify-write is atomic
  across every node; Redis's own clock is the time base, so node clocks need not agree.
- :class:`InvalidationBus`: revoking or disabling a key publishes its id; every node's
  subscriber drops it from its cache at once.

If Redis fails, limiting falls back to the in-process limiter (logged) rather than
refusing every request or answering 5xx.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

import redis

from ostiary.keys.ratelimit import Decision, MemoryLimiter, Rate
from ostiary.web.logs import get_logger

log = get_logger("ostiary.keys.shared")

GCRA_LUA = """
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local consume = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat or tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, tostring(allow_at - now), tostring(tat - now)}
end
if consume == 1 then
  redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now) * 1000) + 1000)
  tat = new_tat
end
return {1, tostring((tolerance - (new_tat - now)) / interval), tostring(tat - now)}
"""


def connect(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)


class RedisLimiter:
    def __init__(self, client: redis.Redis, prefix: str, fallback: MemoryLimiter) -> None:
        self._client = client
        self._prefix = prefix
        self._script: Any = client.register_script(GCRA_LUA)
        self._fallback = fallback

    def hit(self, key: str, rate: Rate, consume: bool = True) -> Decision:
        try:
            allowed, a, b = self._script(
                keys=[f"{self._prefix}rl:{key}"],
                args=[repr(rate.interval), repr(rate.tolerance), 1 if consume else 0],
            )
        except redis.RedisError as exc:
            log.warning("ratelimit.redis_unavailable", error=type(exc).__name__)
            return self._fallback.hit(key, rate, consume)
        x, reset = float(a), max(float(b), 0.0)
        if int(allowed):
            return Decision(True, rate.burst, max(math.floor(x + 1e-9), 0), 0.0, reset)
        return Decision(False, rate.burst, 0, x, reset)


class InvalidationBus:
    def __init__(self, client: redis.Redis, prefix: str) -> None:
        self._client = client
        self.channel = f"{prefix}keys:invalidate"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def publish(self, key_id: str) -> None:
        try:
            self._client.publish(self.channel, key_id)
        except redis.RedisError as exc:
            log.warning("keys.invalidate.publish_failed", error=type(exc).__name__)

    def start(self, on_message: Callable[[str], None]) -> None:
        ready = threading.Event()

        def run() -> None:
            while not self._stop.is_set():
                try:
                    pubsub = self._client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                    pubsub.subscribe(self.channel)
                    ready.set()
                    while not self._stop.is_set():
                        msg = pubsub.get_message(timeout=0.2)
                        if msg and msg.get("type") == "message":
                            on_message(msg["data"].decode())
                    pubsub.close()
                except redis.RedisError as exc:
                    log.warning("keys.invalidate.subscribe_failed", error=type(exc).__name__)
                    ready.set()
                    self._stop.wait(1.0)

        self._thread = threading.Thread(target=run, name="ostiary-key-invalidation", daemon=True)
        self._thread.start()
        ready.wait(2.0)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
