"""Outbound notifications for key events: an HMAC-signed webhook, and secret delivery.

Rotation deliveries to a key's own webhook carry ``Ostiary-Signature: t=<unix
seconds>,v1=<hex>``, where ``v1`` is HMAC-SHA256(webhook secret, ``"<t>." + body``); the
receiver recomputes it and rejects stale ``t``. The webhook secret is a named vault
secret (``keys.webhook_secret``), shown by ``ostiary keys webhook-secret``. Key events
(warnings, anomalies, leaks) are published to the webhook endpoints and delivered by the
outbox worker (Standard Webhooks signatures), so a request never waits on a receiver.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection

from ostiary.core.clock import Clock
from ostiary.core.crypto.hashing import hmac_sha256
from ostiary.core.crypto.vault import Vault
from ostiary.store.db import Database
from ostiary.store.repositories.vault import SecretRepository
from ostiary.store.repositories.webhooks import WebhookRepository
from ostiary.web.logs import get_logger

log = get_logger("ostiary.keys.notify")
WEBHOOK_SECRET = "keys.webhook_secret"


def signature(secret: bytes, body: bytes, at: int) -> str:
    mac = hmac_sha256(secret, str(at).encode() + b"." + body).hex()
    return f"t={at},v1={mac}"


def post_signed(url: str, secret: bytes, doc: dict[str, Any], timeout: float = 5.0) -> bool:
    body = orjson.dumps(doc)
    headers = {
        "Content-Type": "application/json",
        "Ostiary-Signature": signature(secret, body, int(time.time())),
        "User-Agent": "ostiary-webhook",
    }
    try:
        resp = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        log.warning("webhook.failed", url=url, error=type(exc).__name__)
        return False
    if resp.status_code >= 300:
        log.warning("webhook.rejected", url=url, status=resp.status_code)
        return False
    return True


def write_secret_file(path: Path, doc: dict[str, Any]) -> None:
    """Atomically replace ``path`` with ``doc`` as JSON, readable by its owner only (0600):
    the sync agent reads it; a reader never sees a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ostiary-key-", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


KEY_EVENTS = "key."  # the prefix the OSTIARY_KEY_WEBHOOK_URL endpoint subscribes to
_REGISTER_LOCK = 60070003  # pg advisory lock id: one endpoint however many nodes start


def register_key_webhook(db: Database, vault: Vault, url: str, now: datetime) -> str:
    """Make the legacy ``OSTIARY_KEY_WEBHOOK_URL`` a registered webhook endpoint (once)
    subscribed to ``key.*`` events, signed with the existing ``keys.webhook_secret`` so
    a receiver keeps its secret; returns the endpoint id."""
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_REGISTER_LOCK})")
        repo = WebhookRepository(conn, vault)
        for endpoint in repo.all():
            if endpoint.url == url and KEY_EVENTS in endpoint.events:
                return endpoint.id
        secret = SecretRepository(conn, vault).get_or_create(WEBHOOK_SECRET, new_secret)
        note = "OSTIARY_KEY_WEBHOOK_URL"
        return repo.create(url, [KEY_EVENTS], secret, now, description=note).id


def new_secret() -> bytes:
    return os.urandom(32)


class Notifier:
    """Key events (expiry warnings, anomalies, holds, leaks) go to every webhook endpoint
    subscribed to them through the durable outbox (retries, dead letter, metrics), the
    one mechanism ``ostiary webhooks`` manages."""

    def __init__(self, db: Database, vault: Vault, clock: Clock) -> None:
        self._db, self._vault, self._clock = db, vault, clock

    def queue(self, conn: Connection, doc: dict[str, Any]) -> None:
        """Publish in the caller's transaction: the event commits with what raised it."""
        WebhookRepository(conn, self._vault).publish(str(doc["event"]), doc, self._clock.now())

    def emit(self, doc: dict[str, Any]) -> None:
        try:
            with self._db.begin() as conn:
                self.queue(conn, doc)
        except Exception as exc:  # the action that raised the event already committed
            log.warning("keys.event.queue_failed", event=doc.get("event"), error=type(exc).__name__)
