"""A worker killed with SIGKILL mid-send loses nothing: after restart the message arrives
(issue 7 point 2, "a crash between commit and send loses nothing")."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from ostiary.core.clock import SystemClock
from ostiary.core.settings import Settings
from ostiary.signals import webhooks
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.webhooks import WebhookRepository
from tests.support.receiver import receiver
from tests.support.server import OSTIARY, run_cli


def test_kill_9_between_claim_and_delivery_loses_nothing(tmp_path: Path):
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'o.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
        "OSTIARY_OUTBOX_LEASE_SECONDS": "2",
    }
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    settings = Settings(
        database_url=env["OSTIARY_DATABASE_URL"], master_key_file=tmp_path / "master.key"
    )
    db = Database(settings.database_url, pool_size=1)
    vault = bootstrap.open_vault(settings, db)
    secret = os.urandom(32)
    with receiver(hang_first=30) as rx:
        with db.begin() as conn:
            repo = WebhookRepository(conn, vault)
            repo.create(rx.url, ["scim.user"], secret, SystemClock().now())
            [message_id] = repo.publish("scim.user.deactivate", {"id": "u1"}, SystemClock().now())
        full_env = {**os.environ, **env}
        first = subprocess.Popen([OSTIARY, "outbox", "run"], env=full_env, cwd=tmp_path)
        assert rx.arrived.wait(20), "the first worker never tried to deliver"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = subprocess.Popen([OSTIARY, "outbox", "run"], env=full_env, cwd=tmp_path)
        try:
            [got] = rx.wait_for(1, timeout=20)
        finally:
            second.terminate()
            second.wait(10)
        assert got.headers["webhook-id"] == message_id  # receivers can de-duplicate
        assert webhooks.verify(secret, got.headers, got.body, SystemClock().now())
    db.dispose()
