"""The transactional outbox and signed webhooks (issue 7 point 2: durable delivery with
retries, exponential backoff with jitter, dead letter; Standard Webhooks signatures)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.signals import webhooks
from ostiary.signals.outbox import RetryPolicy, Status
from ostiary.store import bootstrap
from ostiary.store.repositories.outbox import OutboxRepository
from ostiary.store.repositories.webhooks import WebhookRepository
from ostiary.web.workers.outbox import OutboxWorker
from tests.support.deploy import Deployment
from tests.support.receiver import receiver

SECRET = b"s" * 32


def _worker(dep: Deployment, clock: FrozenClock, **kw: object) -> OutboxWorker:
    return OutboxWorker(dep.db, bootstrap.open_vault(dep.settings, dep.db), clock, **kw)  # type: ignore[arg-type]


def _endpoint(dep: Deployment, url: str, clock: FrozenClock, events: list[str] | None = None):  # type: ignore[no-untyped-def]
    with dep.db.begin() as conn:
        vault = bootstrap.open_vault(dep.settings, dep.db)
        return WebhookRepository(conn, vault).create(
            url, events or ["scim.user"], SECRET, clock.now()
        )


def _publish(
    dep: Deployment, clock: FrozenClock, action: str = "scim.user.deactivate"
) -> list[str]:
    with dep.db.begin() as conn:
        vault = bootstrap.open_vault(dep.settings, dep.db)
        return WebhookRepository(conn, vault).publish(action, {"id": "u1"}, clock.now())


def test_rolled_back_change_sends_nothing(deployment: Deployment, clock: FrozenClock):
    with receiver() as rx:
        _endpoint(deployment, rx.url, clock)
        with pytest.raises(RuntimeError), deployment.db.begin() as conn:
            vault = bootstrap.open_vault(deployment.settings, deployment.db)
            WebhookRepository(conn, vault).publish("scim.user.delete", {}, clock.now())
            raise RuntimeError("the change failed")
        assert _worker(deployment, clock).run_once() == 0
        assert rx.requests == []


def test_only_a_commit_that_queued_wakes_the_worker(deployment: Deployment, clock: FrozenClock):
    """A write that queued messages wakes the worker at its commit (delivered now, not at
    the next poll); one that queued nothing, or rolled back, leaves it asleep (each wake
    is a poll: four round trips on PostgreSQL for nothing)."""
    worker = _worker(deployment, clock)
    with receiver() as rx:
        _endpoint(deployment, rx.url, clock, events=["scim.user"])
        assert not worker._wake.is_set()
        _publish(deployment, clock, "key.created")  # not subscribed: nothing queued
        assert not worker._wake.is_set()
        with pytest.raises(RuntimeError), deployment.db.begin() as conn:
            vault = bootstrap.open_vault(deployment.settings, deployment.db)
            WebhookRepository(conn, vault).publish("scim.user.delete", {}, clock.now())
            raise RuntimeError("the change failed")
        assert not worker._wake.is_set()
        assert len(_publish(deployment, clock)) == 1
        assert worker._wake.is_set()


def test_delivery_is_signed_and_verifiable(deployment: Deployment, clock: FrozenClock):
    with receiver() as rx:
        _endpoint(deployment, rx.url, clock)
        [message_id] = _publish(deployment, clock)
        worker = _worker(deployment, clock)
        assert worker.run_once() == 1
        [got] = rx.wait_for(1)
        assert got.headers["webhook-id"] == message_id
        assert webhooks.verify(SECRET, got.headers, got.body, clock.now())
        assert not webhooks.verify(b"x" * 32, got.headers, got.body, clock.now())
        assert not webhooks.verify(SECRET, got.headers, got.body + b" ", clock.now())
        with deployment.db.read() as conn:
            assert OutboxRepository(conn).get(message_id).status is Status.DELIVERED  # type: ignore[union-attr]


def test_unsubscribed_actions_are_not_queued(deployment: Deployment, clock: FrozenClock):
    with receiver() as rx:
        _endpoint(deployment, rx.url, clock, events=["key."])
        assert _publish(deployment, clock, "scim.user.create") == []


def test_failures_back_off_then_dead_letter(deployment: Deployment, clock: FrozenClock):
    """Retries wait exponentially longer (with jitter); after max attempts: dead."""
    with receiver(statuses=[500, 503, 502]) as rx:
        _endpoint(deployment, rx.url, clock)
        [message_id] = _publish(deployment, clock)
        worker = _worker(deployment, clock, policy=RetryPolicy(max_attempts=3))
        delays = []
        for _ in range(3):
            assert worker.run_once() == 1
            assert worker.run_once() == 0  # not due yet: backing off
            with deployment.db.read() as conn:
                msg = OutboxRepository(conn).get(message_id)
            assert msg is not None
            if msg.status is Status.DEAD:
                break
            delays.append((msg.next_attempt_at - clock.now()).total_seconds())  # type: ignore[operator]
            clock.advance(timedelta(hours=2))
        assert msg.status is Status.DEAD and msg.attempts == 3
        assert "500" in (msg.last_error or "") or "502" in (msg.last_error or "")
        assert 1 <= delays[0] <= 2 and 2 <= delays[1] <= 4
        with deployment.db.begin() as conn:
            assert OutboxRepository(conn).retry(message_id, clock.now())
        assert worker.run_once() == 1
        assert len(rx.wait_for(1)) == 1


def test_gone_receiver_is_dead_at_once(deployment: Deployment, clock: FrozenClock):
    with receiver(statuses=[410]) as rx:
        _endpoint(deployment, rx.url, clock)
        [message_id] = _publish(deployment, clock)
        _worker(deployment, clock).run_once()
        with deployment.db.read() as conn:
            assert OutboxRepository(conn).get(message_id).status is Status.DEAD  # type: ignore[union-attr]


def test_expired_lease_is_delivered_again(deployment: Deployment, clock: FrozenClock):
    """A worker that claimed and died: once its lease ends another worker delivers."""
    with receiver() as rx:
        _endpoint(deployment, rx.url, clock)
        _publish(deployment, clock)
        with deployment.db.begin() as conn:
            assert len(OutboxRepository(conn).claim(clock.now(), timedelta(seconds=30))) == 1
        worker = _worker(deployment, clock)
        assert worker.run_once() == 0  # leased to the dead worker
        clock.advance(31)
        assert worker.run_once() == 1
        assert len(rx.wait_for(1)) == 1


@pytest.mark.postgres
def test_concurrent_workers_deliver_each_message_once(
    pg_deployment: Deployment, clock: FrozenClock
):
    """Issue 7 point 3: each outbox event is sent once across nodes (SKIP LOCKED)."""
    deployment = pg_deployment
    with receiver() as rx:
        _endpoint(deployment, rx.url, clock)
        for _ in range(40):
            _publish(deployment, clock)
        workers = [_worker(deployment, clock) for _ in range(4)]
        threads = [
            threading.Thread(target=lambda w=w: [w.run_once(5) for _ in range(20)]) for w in workers
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ids = [r.headers["webhook-id"] for r in rx.wait_for(40)]
        assert len(ids) == 40 and len(set(ids)) == 40
