"""``ostiary ssf streams list|status``, run as a real process."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from ostiary.core.clock import SystemClock
from ostiary.core.settings import Settings
from ostiary.signals.ssf import events as ev
from ostiary.signals.ssf.streams import POLL, Delivery, ReceiverConfig
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.ssf import SsfRepository
from ostiary.store.tables_audit import audit_events
from tests.support.server import run_cli


def test_streams_list_and_operator_status_change(tmp_path: Path):
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    settings = Settings(
        database_url=env["OSTIARY_DATABASE_URL"],
        master_key_file=Path(env["OSTIARY_MASTER_KEY_FILE"]),
    )
    db = Database(settings.database_url, pool_size=1)
    try:
        cfg = ReceiverConfig(Delivery(POLL), [ev.SESSION_REVOKED], "for the cli")
        with db.begin() as conn:
            repo = SsfRepository(conn, bootstrap.open_vault(settings, db))
            stream = repo.create("key-1", "key-1", cfg, SystemClock().now())

        listed = run_cli("ssf", "streams", "list", "--json", env=env, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        [doc] = json.loads(listed.stdout)
        assert doc["stream_id"] == stream.id and doc["receiver_key_id"] == "key-1"
        assert doc["status"] == "enabled" and doc["events_delivered"] == [ev.SESSION_REVOKED]

        args = ("ssf", "streams", "status", stream.id, "paused", "--reason", "maintenance")
        changed = run_cli(*args, env=env, cwd=tmp_path)
        assert changed.returncode == 0, changed.stderr
        [doc] = json.loads(
            run_cli("ssf", "streams", "list", "--json", env=env, cwd=tmp_path).stdout
        )
        assert doc["status"] == "paused" and doc["reason"] == "maintenance"
        assert doc["queued"]["pending"] == 1  # the stream-updated SET, waiting to be polled

        missing = run_cli("ssf", "streams", "status", "nope", "enabled", env=env, cwd=tmp_path)
        assert missing.returncode == 1 and "no stream" in missing.stderr
        with db.read() as conn:
            entries = conn.execute(
                select(audit_events.c.entry).where(audit_events.c.action == "ssf.stream.status")
            ).scalars()
            kinds = [json.loads(e)["actor"]["kind"] for e in entries]
        assert kinds == ["cli"]
    finally:
        db.dispose()
