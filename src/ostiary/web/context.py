"""Everything a request handler needs, built once per process at start-up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prometheus_client import CollectorRegistry

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.crypto.vault import Vault
from ostiary.core.settings import Settings
from ostiary.keys.verify import KeyVerifier
from ostiary.signals.outbox import RetryPolicy
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.provisioning import TOPIC as PROVISION
from ostiary.store.repositories.ssf import PUSH_TOPIC as SSF_PUSH
from ostiary.web.keys.runtime import DbKeyReader, KeyRuntime
from ostiary.web.ssf.transmitter import SsfTransmitter
from ostiary.web.workers.outbox import OutboxWorker
from ostiary.web.workers.provision import ProvisionSender

__all__ = ["AppContext", "DbKeyReader"]


@dataclass
class AppContext:
    settings: Settings
    db: Database
    vault: Vault
    pepper: bytes = field(repr=False)
    clock: Clock
    keys: KeyVerifier
    registry: CollectorRegistry
    key_runtime: KeyRuntime
    _outbox: OutboxWorker | None = field(default=None, repr=False)
    _ssf: SsfTransmitter | None = field(default=None, repr=False)
    # Outbox senders that need more than the context (the OAuth keyring): topic -> factory
    # taking the worker's HTTP client.
    _sender_factories: dict[str, Callable[[Any], Any]] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None) -> AppContext:
        db = Database(settings.database_url)
        vault = bootstrap.open_vault(settings, db)
        pepper = bootstrap.load_pepper(db, vault)
        clock = clock or SystemClock()
        runtime = KeyRuntime(settings, db, vault, pepper, clock)
        return cls(
            settings=settings,
            db=db,
            vault=vault,
            pepper=pepper,
            clock=clock,
            keys=runtime.verifier,
            registry=CollectorRegistry(),
            key_runtime=runtime,
        )

    def outbox_worker(self) -> OutboxWorker:
        """One worker per process, created on first use (serve starts it in the lifespan)."""
        if self._outbox is None:
            self._outbox = OutboxWorker(
                self.db,
                self.vault,
                self.clock,
                registry=self.registry,
                policy=RetryPolicy(max_attempts=self.settings.outbox_max_attempts),
                lease=timedelta(seconds=self.settings.outbox_lease_seconds),
            )
            self._outbox.register(SSF_PUSH, self.ssf().push_sender(self._outbox.http))
            self._outbox.register(PROVISION, ProvisionSender(self.db, self.vault, self.scim_base))
            for topic, factory in self._sender_factories.items():
                self._outbox.register(topic, factory(self._outbox.http))
        return self._outbox

    def add_sender(self, topic: str, factory: Callable[[Any], Any]) -> None:
        """Register an outbox sender built from the worker's HTTP client, now or when the
        worker is created."""
        self._sender_factories[topic] = factory
        if self._outbox is not None:
            self._outbox.register(topic, factory(self._outbox.http))

    def ssf(self) -> SsfTransmitter:
        """The SSF transmitter: ``ctx.ssf().emit(conn, ...)`` inside a deprovisioning."""
        if self._ssf is None:
            self._ssf = SsfTransmitter(self.settings, self.db, self.vault, self.clock)
        return self._ssf

    @property
    def scim_base(self) -> str:
        return f"{self.settings.issuer}/scim/v2"
