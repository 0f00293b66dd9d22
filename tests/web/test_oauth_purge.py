"""The purge of expired authorization server state (issue 6 point 5 housekeeping):
expired codes (kept a day so a late replay is still a replay, RFC 6749 4.1.2), expired
refresh tokens (RFC 6749 6) and revocation rows (RFC 7009 2) of expired tokens; nothing
still needed is deleted. Also the ``ostiary clients purge-expired`` command."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from joserfc.jws import extract_compact
from sqlalchemy import func, select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.db import Database
from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.tables_oidc import oidc_revoked_tokens
from ostiary.store.tables_oidc_code import oidc_auth_codes, oidc_refresh_tokens
from ostiary.web.oauth.purge import run_once
from tests.support.deploy import Deployment
from tests.support.rp import REDIRECT, code_for, exchange, register, scim_user
from tests.support.server import run_cli


def _counts(dep: Deployment) -> tuple[int, int, int]:
    with dep.db.read() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (oidc_auth_codes, oidc_refresh_tokens, oidc_revoked_tokens)
        )


def test_purge_keeps_what_is_needed_and_drops_the_rest(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    secret = register(client.app)
    assert secret
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    code, verifier = code_for(client, scope="openid offline_access")
    body = exchange(client, code, verifier, ("rp1", secret)).json()
    assert client.post("/revoke", auth=("rp1", secret), data={"token": body["access_token"]})
    db, ctx_clock = deployment.db, client.app.state.ctx.clock
    assert run_once(db, ctx_clock).as_dict() == {"codes": 0, "refresh_tokens": 0, "revocations": 0}
    assert _counts(deployment) == (1, 1, 1)
    jti = json.loads(extract_compact(body["access_token"].encode()).payload)["jti"]
    with db.read() as conn:  # a revoked, unexpired token stays revoked
        assert RevocationRepository(conn).is_revoked(jti)
    clock.advance(timedelta(minutes=11))  # access token expired: its revocation row goes
    assert run_once(db, ctx_clock).as_dict() == {"codes": 0, "refresh_tokens": 0, "revocations": 1}
    # The code expired 10 minutes ago, but a replay must still be recognised.
    replay = client.post(
        "/token",
        auth=("rp1", secret),
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT},
    )
    assert replay.status_code == 400 and "already used" in replay.json()["error_description"]
    clock.advance(timedelta(days=1))
    assert run_once(db, ctx_clock).codes == 1
    assert _counts(deployment)[:2] == (0, 1)  # the refresh token lives 30 days
    clock.advance(timedelta(days=30))
    assert run_once(db, ctx_clock).refresh_tokens == 1
    assert _counts(deployment) == (0, 0, 0)


def test_purge_command(tmp_path: Path):
    env = {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
    }
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    db = Database(env["OSTIARY_DATABASE_URL"])
    past = datetime.now(UTC) - timedelta(minutes=1)
    with db.begin() as conn:
        RevocationRepository(conn).revoke("old-jti", "c", past, past)
        RevocationRepository(conn).revoke("live-jti", "c", past + timedelta(hours=1), past)
    done = run_cli("clients", "purge-expired", "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"codes": 0, "refresh_tokens": 0, "revocations": 1}
    with db.read() as conn:
        assert RevocationRepository(conn).is_revoked("live-jti")
    db.dispose()
