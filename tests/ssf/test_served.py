"""The whole SSF path on a real ``ostiary serve``: a receiver discovers the transmitter,
creates a push stream with a provisioning key, the deprovisioning side emits
session-revoked and account-disabled in its transaction, and the served outbox worker
pushes them to a receiver on 127.0.0.1 that verifies them against the served JWKS."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from ostiary.core.clock import SystemClock
from ostiary.core.settings import Settings
from ostiary.signals.ssf import events as ev
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.web.ssf.transmitter import SsfTransmitter
from tests.support.server import run_cli, served
from tests.support.ssf_receiver import set_receiver


def test_served_transmitter_pushes_verified_sets(tmp_path: Path):
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
        "OSTIARY_SSF_ALLOW_INSECURE_PUSH": "true",
    }
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    made = run_cli(
        "keys", "create", "--name", "rp", "--scope", "ssf:manage", "--json", env=env, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)["key"]
    with served(env, tmp_path, tmp_path / "serve.log") as (base, _proc), httpx.Client() as http:
        issuer = http.get(f"{base}/.well-known/ssf-configuration").json()["issuer"]
        jwks = http.get(f"{base}/ssf/jwks").json()
        with set_receiver(jwks, issuer, authorization="Bearer rx") as rx:
            body = {
                "delivery": {
                    "method": "urn:ietf:rfc:8935",
                    "endpoint_url": rx.url,
                    "authorization_header": "Bearer rx",
                },
                "events_requested": [ev.SESSION_REVOKED, ev.ACCOUNT_DISABLED],
            }
            auth = {"authorization": f"Bearer {token}"}
            created = http.post(f"{base}/ssf/stream", json=body, headers=auth)
            assert created.status_code == 201, created.text
            rx.audience = created.json()["aud"]

            # The deprovisioning side: its own process, same database and vault.
            settings = Settings(
                database_url=env["OSTIARY_DATABASE_URL"],
                master_key_file=Path(env["OSTIARY_MASTER_KEY_FILE"]),
                issuer=issuer,
            )
            db = Database(settings.database_url, pool_size=1)
            try:
                clock = SystemClock()
                tx = SsfTransmitter(settings, db, bootstrap.open_vault(settings, db), clock)
                with db.begin() as conn:
                    user = ev.user_subject(issuer, "user-42", session_id="sess-1")
                    tx.emit(conn, ev.SESSION_REVOKED, user, clock.now(), txn="deprov-1")
                    tx.emit(
                        conn,
                        ev.ACCOUNT_DISABLED,
                        ev.iss_sub(issuer, "user-42"),
                        clock.now(),
                        txn="deprov-1",
                    )
            finally:
                db.dispose()
            got = rx.wait_for(2, timeout=15)
    assert rx.rejected == []
    assert sorted(s.event_type for s in got) == sorted([ev.SESSION_REVOKED, ev.ACCOUNT_DISABLED])
    assert {s.claims["txn"] for s in got} == {"deprov-1"}
