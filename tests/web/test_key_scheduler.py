"""Scheduled rotation with delivery, and expiry warnings (issue 4 point 5), under a
FrozenClock. The webhook receiver is a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import hmac
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ostiary.core.clock import FrozenClock
from ostiary.store.tables_audit import audit_events
from ostiary.web.keys import wiring
from ostiary.web.keys.scheduler import run_due
from tests.support.keys import admin_token, app_client, auth
from tests.support.webhook import deliver_key_events, webhook_receiver


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2026, 3, 1, tzinfo=UTC))


def _run(tc):  # type: ignore[no-untyped-def]
    ctx = tc.app.state.ctx
    return run_due(wiring.service(ctx), wiring.secret_loader(ctx))


def _actions(dep) -> list[str]:  # type: ignore[no-untyped-def]
    with dep.db.read() as conn:
        return list(conn.execute(select(audit_events.c.action)).scalars())


def test_scheduled_rotation_delivers_to_a_private_file(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    target = tmp_path / "agent" / "key.json"
    with app_client(database_url, tmp_path, clock, key_scheduler_in_serve=False) as (tc, dep):
        h = {"Authorization": f"Bearer {admin_token(dep, clock)}"}
        created = tc.post(
            "/api/v1/keys",
            headers=h,
            json={
                "name": "sync",
                "scopes": ["users:read"],
                "rotate_every": "30d",
                "rotation_overlap": "24h",
                "deliver_to": {"kind": "file", "path": str(target)},
            },
        ).json()
        assert _run(tc).rotated == []
        clock.advance(timedelta(days=30))
        assert _run(tc).rotated == [created["id"]]
        assert stat.S_IMODE(target.stat().st_mode) == 0o600
        doc = json.loads(target.read_text())
        assert doc["key_id"] == created["id"] and doc["version"] == 2
        for token in (created["key"], doc["key"]):
            assert tc.get("/scim/v2/Users/x", headers=auth(token)).status_code == 404
        clock.advance(timedelta(days=1, seconds=1))
        assert tc.get("/scim/v2/Users/x", headers=auth(created["key"])).status_code == 401
        assert tc.get("/scim/v2/Users/x", headers=auth(doc["key"])).status_code == 404
        assert _run(tc).rotated == []  # next one is due 30 days after the rotation
        assert "key.rotate" in _actions(dep)


def test_scheduled_rotation_posts_an_hmac_signed_webhook(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    with (
        webhook_receiver() as (url, received),
        app_client(database_url, tmp_path, clock, key_scheduler_in_serve=False) as (tc, dep),
    ):
        h = {"Authorization": f"Bearer {admin_token(dep, clock)}"}
        created = tc.post(
            "/api/v1/keys",
            headers=h,
            json={
                "name": "sync",
                "scopes": ["users:read"],
                "rotate_every": "7d",
                "deliver_to": {"kind": "webhook", "url": url},
            },
        ).json()
        received.status = 500  # the receiver is down: nothing changes, retried next run
        clock.advance(timedelta(days=7))
        assert _run(tc).failed == [created["id"]]
        assert "key.rotate.delivery_failed" in _actions(dep)
        received.status = 204
        assert _run(tc).rotated == []  # claimed by the failed attempt: retried later
        clock.advance(timedelta(minutes=10))
        assert _run(tc).rotated == [created["id"]]
        headers, body = received.posts[-1]
        secret = wiring.secret_loader(tc.app.state.ctx)()
        t, v1 = (part.split("=", 1)[1] for part in headers["ostiary-signature"].split(","))
        expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(v1, expected)
        new_token = json.loads(body)["key"]
        assert tc.get("/scim/v2/Users/x", headers=auth(new_token)).status_code == 404


def test_expiry_warnings_at_14_7_and_1_days_each_once(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    with (
        webhook_receiver() as (url, received),
        app_client(
            database_url,
            tmp_path,
            clock,
            key_scheduler_in_serve=False,
            key_webhook_url=url,
            key_idle_expiry_days=90,
        ) as (tc, dep),
    ):
        key = dep.make_key(lifetime=timedelta(days=30), clock=clock)
        seen = []
        for _ in range(30):
            seen += [days for _, days in _run(tc).warned]
            clock.advance(timedelta(days=1))
        assert seen == [14, 7, 1]
        events = deliver_key_events(tc, received)
        warnings = [d for d in events if d["event"] == "key.expiry_warning"]
        assert [d["days"] for d in warnings] == [14, 7, 1]
        assert all(d["key_id"] == key.record.id for d in warnings)
        assert _actions(dep).count("key.expiry_warning") == 3
