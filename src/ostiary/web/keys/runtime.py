"""Per-process key machinery: the record cache, limiters, usage batching, anomaly state,
the webhook notifier and cross-node invalidation. Built once by ``AppContext`` (serve)
or by the CLI, started and stopped with the application's lifespan."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta

from ostiary.core.clock import Clock
from ostiary.core.crypto.vault import Vault
from ostiary.core.settings import Settings
from ostiary.keys.anomaly import AnomalyConfig, AnomalyDetector, parse_actions
from ostiary.keys.models import KeyRecord
from ostiary.keys.ratelimit import Limiter, MemoryLimiter, Rate
from ostiary.keys.usage import UsageTracker
from ostiary.keys.verify import CachedKeyReader, KeyVerifier
from ostiary.store.db import Database
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.repositories.vault import SecretRepository
from ostiary.web.keys import shared
from ostiary.web.keys.notify import WEBHOOK_SECRET, Notifier, new_secret, register_key_webhook
from ostiary.web.logs import get_logger

log = get_logger("ostiary.keys.runtime")


class DbKeyReader:
    """Reads key records for authentication, one short read transaction per lookup."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def get_for_auth(self, key_id: str) -> KeyRecord | None:
        with self._db.read() as conn:
            return KeyRepository(conn).get_for_auth(key_id)


@dataclass(frozen=True)
class Rates:
    per_key: Rate
    per_ip: Rate
    fail_ip: Rate
    fail_key: Rate

    @classmethod
    def from_settings(cls, s: Settings) -> Rates:
        return cls(
            per_key=Rate(s.key_rate_per_second, s.key_rate_burst),
            per_ip=Rate(s.ip_rate_per_second, s.ip_rate_burst),
            fail_ip=Rate(s.auth_fail_ip_per_minute / 60.0, s.auth_fail_ip_burst),
            fail_key=Rate(s.auth_fail_key_per_minute / 60.0, s.auth_fail_key_burst),
        )


def webhook_secret(db: Database, vault: Vault) -> bytes:
    with db.begin() as conn:
        return SecretRepository(conn, vault).get_or_create(WEBHOOK_SECRET, new_secret)


class KeyRuntime:
    def __init__(
        self, settings: Settings, db: Database, vault: Vault, pepper: bytes, clock: Clock
    ) -> None:
        self.settings = settings
        self.db = db
        self.clock = clock
        self.cache = CachedKeyReader(DbKeyReader(db), clock, ttl=settings.key_cache_ttl_seconds)
        self.usage = UsageTracker()
        self.verifier = KeyVerifier(
            self.cache,
            pepper,
            clock,
            idle_expiry=timedelta(days=settings.key_idle_expiry_days),
            last_seen=self.usage.last_seen,
        )
        self.rates = Rates.from_settings(settings)
        self.anomalies = AnomalyDetector(
            AnomalyConfig(
                actions=parse_actions(settings.key_anomaly_actions),
                volume_factor=settings.key_volume_factor,
                denial_burst=settings.key_denial_burst,
                deprovision_share=settings.key_deprovision_share,
                deprovision_min=settings.key_deprovision_min,
                deprovision_window=settings.key_deprovision_window_seconds,
            )
        )
        if settings.key_webhook_url:  # the legacy setting becomes a registered endpoint
            register_key_webhook(db, vault, settings.key_webhook_url, clock.now())
        self.notifier = Notifier(db, vault, clock)
        memory = MemoryLimiter(clock)
        self.limiter: Limiter = memory
        self.bus: shared.InvalidationBus | None = None
        if settings.redis_url:
            client = shared.connect(settings.redis_url)
            prefix = settings.key_redis_prefix
            self.limiter = shared.RedisLimiter(client, prefix, memory)
            self.bus = shared.InvalidationBus(client, prefix)
        self.node = uuid.uuid4().hex[:8]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def invalidate(self, key_id: str) -> None:
        """Forget a key here and, with Redis, on every node: revocation is effective now."""
        self.cache.invalidate(key_id)
        if self.bus is not None:
            self.bus.publish(key_id)

    def flush_usage(self) -> int:
        uses = self.usage.drain()
        if not uses:
            return 0
        try:
            with self.db.begin() as conn:
                KeyRepository(conn).record_uses(uses)
        except Exception as exc:  # a failed flush must not kill the flusher thread
            log.warning("keys.usage.flush_failed", error=type(exc).__name__, keys=len(uses))
            return 0
        return len(uses)

    def _every(self, seconds: float, fn: object, name: str) -> None:
        def run() -> None:
            while not self._stop.wait(seconds):
                try:
                    fn()  # type: ignore[operator]
                except Exception as exc:
                    log.warning(f"{name}.failed", error=type(exc).__name__)

        thread = threading.Thread(target=run, name=f"ostiary-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def start(self, scheduler: object | None = None) -> None:
        if self.bus is not None:
            self.bus.start(self.cache.invalidate)
        self._every(self.settings.key_usage_flush_seconds, self.flush_usage, "key-usage")
        if scheduler is not None:
            self._every(self.settings.key_scheduler_interval_seconds, scheduler, "key-scheduler")

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(5.0)
        self.flush_usage()
        if self.bus is not None:
            self.bus.stop()
