"""Webhook endpoints: where signed event notifications go. Secrets are sealed in the vault."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select

from ostiary.core.crypto.vault import Vault
from ostiary.core.ids import new_id
from ostiary.store.repositories.outbox import OutboxBatch
from ostiary.store.tables_signals import webhook_endpoints as we

TOPIC = "webhook"


@dataclass(frozen=True)
class WebhookEndpoint:
    id: str
    url: str
    events: list[str]
    enabled: bool = True
    description: str = ""
    created_at: datetime | None = None
    secret_sealed: str = field(default="", repr=False)

    def wants(self, action: str) -> bool:
        return self.enabled and any(action.startswith(p) or p == "*" for p in self.events)


def _endpoint(r: Row[Any]) -> WebhookEndpoint:
    return WebhookEndpoint(
        id=r.id,
        url=r.url,
        events=list(r.events),
        enabled=r.enabled,
        description=r.description,
        created_at=r.created_at,
        secret_sealed=r.secret_sealed,
    )


def _context(endpoint_id: str) -> str:
    return f"webhook:{endpoint_id}"


class WebhookRepository:
    def __init__(self, conn: Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault

    def create(
        self, url: str, events: list[str], secret: bytes, now: datetime, description: str = ""
    ) -> WebhookEndpoint:
        endpoint_id = new_id()
        sealed = self._vault.seal(secret, _context(endpoint_id))
        self._conn.execute(
            insert(we).values(
                id=endpoint_id,
                url=url,
                description=description,
                events=events,
                secret_sealed=sealed,
                enabled=True,
                created_at=now,
            )
        )
        return WebhookEndpoint(endpoint_id, url, events, True, description, now, sealed)

    def get(self, endpoint_id: str) -> WebhookEndpoint | None:
        row = self._conn.execute(select(we).where(we.c.id == endpoint_id)).first()
        return None if row is None else _endpoint(row)

    def all(self) -> list[WebhookEndpoint]:
        return [_endpoint(r) for r in self._conn.execute(select(we).order_by(we.c.created_at))]

    def delete(self, endpoint_id: str) -> bool:
        return bool(self._conn.execute(delete(we).where(we.c.id == endpoint_id)).rowcount)

    def secret(self, endpoint: WebhookEndpoint) -> bytes:
        return self._vault.open(endpoint.secret_sealed, _context(endpoint.id))

    def publish(
        self, action: str, data: dict[str, Any], now: datetime, batch: OutboxBatch | None = None
    ) -> list[str]:
        """Queue ``action`` for every endpoint subscribed to it, in the caller's transaction
        (into ``batch`` when given: the caller flushes it)."""
        out = batch or OutboxBatch(now)
        queued = [
            out.add(TOPIC, e.id, {"type": action, "timestamp": now.isoformat(), "data": data})
            for e in self.all()
            if e.wants(action)
        ]
        if batch is None:
            out.flush(self._conn)
        return queued
