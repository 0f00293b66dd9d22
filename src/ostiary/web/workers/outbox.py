"""The outbox worker: claims due messages, hands each to its topic's sender, records the
outcome. Several workers on several nodes share one queue safely (see the repository)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import httpx
import orjson
from prometheus_client import CollectorRegistry, Counter

from ostiary.core.clock import Clock
from ostiary.core.crypto.vault import Vault
from ostiary.signals import webhooks
from ostiary.signals.errors import DeliveryFailed
from ostiary.signals.outbox import OutboxMessage, RetryPolicy
from ostiary.store.db import Database
from ostiary.store.repositories.outbox import QUEUED, OutboxRepository
from ostiary.store.repositories.webhooks import TOPIC as WEBHOOK
from ostiary.store.repositories.webhooks import WebhookRepository
from ostiary.web.logs import get_logger

Sender = Callable[[OutboxMessage], None]
log = get_logger("ostiary.outbox")


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        clock: Clock,
        *,
        registry: CollectorRegistry | None = None,
        policy: RetryPolicy | None = None,
        lease: timedelta = timedelta(seconds=30),
        http: httpx.Client | None = None,
    ) -> None:
        self.db, self.vault, self.clock = db, vault, clock
        self.policy = policy or RetryPolicy()
        self.lease = lease
        self.http = http or httpx.Client(timeout=httpx.Timeout(5.0), follow_redirects=False)
        self.senders: dict[str, Sender] = {WEBHOOK: self._send_webhook}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Woken by each commit that queued (not by every write: a poll is four round trips).
        db.on_commit(QUEUED, self.kick)
        self.sent = Counter(
            "ostiary_outbox_deliveries_total",
            "Outbox delivery attempts by topic and outcome",
            ["topic", "outcome"],
            registry=registry,
        )

    def register(self, topic: str, sender: Sender) -> None:
        self.senders[topic] = sender

    def kick(self) -> None:
        """Deliver now rather than at the next poll (called after a commit that queued)."""
        self._wake.set()

    def run_once(self, limit: int = 50) -> int:
        """Claim and attempt one batch; returns how many were attempted."""
        with self.db.read() as conn:
            if not OutboxRepository(conn).has_due(self.clock.now()):
                return 0
        with self.db.begin() as conn:
            batch = OutboxRepository(conn).claim(self.clock.now(), self.lease, limit)
        for message in batch:
            self._attempt(message)
        return len(batch)

    def _attempt(self, message: OutboxMessage) -> None:
        attempts = message.attempts + 1
        sender = self.senders.get(message.topic)
        try:
            if sender is None:
                raise DeliveryFailed(f"no sender for topic {message.topic}", retryable=False)
            sender(message)
        except DeliveryFailed as exc:
            now = self.clock.now()
            retry_at = self.policy.next_attempt(attempts, now) if exc.retryable else None
            with self.db.begin() as conn:
                OutboxRepository(conn).failed(message.id, attempts, exc.reason, retry_at)
            outcome = "dead" if retry_at is None else "retry"
            self.sent.labels(message.topic, outcome).inc()
            log.warning(
                "outbox.failed",
                id=message.id,
                topic=message.topic,
                outcome=outcome,
                attempts=attempts,
                reason=exc.reason,
            )
            return
        with self.db.begin() as conn:
            OutboxRepository(conn).delivered(message.id, attempts, self.clock.now())
        self.sent.labels(message.topic, "delivered").inc()

    def _send_webhook(self, message: OutboxMessage) -> None:
        with self.db.read() as conn:
            repo = WebhookRepository(conn, self.vault)
            endpoint = repo.get(message.destination)
            if endpoint is None or not endpoint.enabled:
                raise DeliveryFailed("webhook endpoint removed or disabled", retryable=False)
            secret = repo.secret(endpoint)
        body = orjson.dumps(message.payload)
        headers = webhooks.headers(secret, message.id, self.clock.now(), body)
        post(self.http, endpoint.url, body, headers)

    def start(self, interval: float = 0.25) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    busy = self.run_once()
                except Exception as exc:  # a database hiccup must not kill the worker
                    log.error("outbox.loop_error", error_type=type(exc).__name__, exc_info=exc)
                    busy = 0
                if not busy:
                    self._wake.wait(interval)
                    self._wake.clear()

        self._thread = threading.Thread(target=loop, name="ostiary-outbox", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)
        self.http.close()
        for sender in self.senders.values():
            close = getattr(sender, "close", None)
            if close is not None:
                close()  # a sender holding its own connections (outbound provisioning)


def post(http: httpx.Client, url: str, body: bytes, headers: dict[str, str]) -> None:
    """POST and translate the outcome: 2xx done, 410 gone for good, anything else retry."""
    try:
        resp = http.post(url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    if resp.status_code == 410:
        raise DeliveryFailed("receiver answered 410 Gone", retryable=False)
    if not 200 <= resp.status_code < 300:
        raise DeliveryFailed(f"receiver answered {resp.status_code}")
