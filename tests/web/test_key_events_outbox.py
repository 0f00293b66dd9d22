"""Issue 4: key events (expiry warnings, anomalies, leaks) use the one webhook mechanism,
the signed endpoints and the durable outbox (Standard Webhooks signatures, retries with
backoff, dead letter), and the legacy OSTIARY_KEY_WEBHOOK_URL becomes one registered
endpoint subscribed to ``key.*``, signed with the existing ``keys.webhook_secret``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.signals.outbox import Status
from ostiary.store import bootstrap
from ostiary.store.repositories.outbox import OutboxRepository
from ostiary.store.repositories.webhooks import TOPIC, WebhookRepository
from ostiary.web.app import create_app
from ostiary.web.keys import wiring
from ostiary.web.keys.notify import KEY_EVENTS
from ostiary.web.keys.scheduler import run_due
from tests.support.keys import app_client
from tests.support.webhook import deliver_key_events, webhook_receiver


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))


def test_the_legacy_url_is_registered_once_however_many_nodes_start(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Backwards compatibility: the setting becomes one endpoint (not one per node or per
    restart), listed with the others, whose secret is ``keys.webhook_secret``."""
    url = "http://127.0.0.1:9/hook"
    with app_client(database_url, tmp_path, clock, key_webhook_url=url) as (tc, dep):
        second = create_app(dep.settings, clock=clock)  # another node on the same database
        second.state.ctx.db.dispose()
        vault = bootstrap.open_vault(dep.settings, dep.db)
        with dep.db.read() as conn:
            repo = WebhookRepository(conn, vault)
            [endpoint] = repo.all()
            secret = repo.secret(endpoint)
        assert endpoint.url == url and endpoint.events == [KEY_EVENTS]
        assert secret == wiring.secret_loader(tc.app.state.ctx)()


def test_a_key_event_the_receiver_refuses_is_retried_by_the_outbox(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Outbox semantics for key events: a 500 leaves the message pending with a backoff
    (the old in-memory queue dropped it); once the receiver is back it is delivered."""
    with (
        webhook_receiver() as (url, received),
        app_client(
            database_url, tmp_path, clock, key_webhook_url=url, key_scheduler_in_serve=False
        ) as (tc, dep),
    ):
        key = dep.make_key(lifetime=timedelta(days=14), clock=clock)
        received.status = 500
        ctx = tc.app.state.ctx
        assert run_due(wiring.service(ctx), wiring.secret_loader(ctx)).warned == [
            (key.record.id, 14)
        ]
        assert deliver_key_events(tc, received)[0]["event"] == "key.expiry_warning"
        with dep.db.read() as conn:
            [pending] = OutboxRepository(conn).recent(status=Status.PENDING, topic=TOPIC)
        assert pending.attempts == 1 and pending.payload["type"] == "key.expiry_warning"
        received.status = 204
        received.posts.clear()
        clock.advance(timedelta(minutes=5))
        [doc] = deliver_key_events(tc, received)
        assert doc["key_id"] == key.record.id and doc["days"] == 14
        with dep.db.read() as conn:
            [sent] = OutboxRepository(conn).recent(status=Status.DELIVERED, topic=TOPIC)
        assert sent.id == pending.id
