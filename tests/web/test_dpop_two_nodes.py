"""Two Ostiary nodes sharing Redis (OSTIARY_REDIS_URL): a DPoP proof or a client assertion
used at one node is refused at the other (RFC 9449 section 11.1, RFC 7523 section 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from starlette.testclient import TestClient

from ostiary.store.repositories.key_credentials import KeyCredentialRepository, KeyCredentials
from ostiary.web.app import create_app
from ostiary.web.oauth.replay import RedisReplayCache
from tests.support.deploy import deploy
from tests.support.oauth import assertion_form, basic, client_assertion, dpop_proof, ec_key
from tests.support.services import require_redis

CC = {"grant_type": "client_credentials"}


@pytest.mark.redis
def test_replay_at_another_node_is_refused(sqlite_url: str, tmp_path: Path):
    url = require_redis()
    dep = deploy(sqlite_url, tmp_path, redis_url=url)
    prefix = f"ostiary-test:{uuid.uuid4().hex}:"
    shared = redis.Redis.from_url(url)
    apps = [create_app(dep.settings), create_app(dep.settings)]
    try:
        for app in apps:
            assert isinstance(app.state.oauth.replay, RedisReplayCache)
            app.state.oauth.replay = RedisReplayCache(shared, prefix)  # isolate this test
        key = dep.make_key(["users:read"])
        signer = ec_key()
        with dep.db.begin() as conn:
            creds = KeyCredentials(key.record.id, {"keys": [signer.as_dict(private=False)]})
            KeyCredentialRepository(conn).put(creds, datetime.now(UTC))
        with (
            TestClient(apps[0], base_url="http://testserver") as a,
            TestClient(apps[1], base_url="http://testserver") as b,
        ):
            proof = dpop_proof(ec_key(), "POST", "http://testserver/token")
            auth = basic(key.record.id, key.token)
            assert a.post("/token", data=CC, headers=auth | {"DPoP": proof}).status_code == 200
            again = b.post("/token", data=CC, headers=auth | {"DPoP": proof})
            assert again.status_code == 400 and again.json()["error"] == "invalid_dpop_proof"

            form = assertion_form(client_assertion(signer, key.record.id, "http://testserver"))
            assert a.post("/token", data=form).status_code == 200
            replayed = b.post("/token", data=form)
            assert replayed.status_code == 401 and replayed.json()["error"] == "invalid_client"
    finally:
        for app in apps:
            app.state.ctx.db.dispose()
        for k in shared.scan_iter(prefix + "*"):
            shared.delete(k)
        shared.close()
        dep.db.dispose()


def test_unreachable_redis_fails_closed_with_503_not_500(sqlite_url: str, tmp_path: Path):
    """Without the shared replay cache a replay cannot be detected: refuse, clearly."""
    dep = deploy(sqlite_url, tmp_path, redis_url="redis://127.0.0.1:1/0")
    app = create_app(dep.settings)
    try:
        key = dep.make_key(["users:read"])
        auth = basic(key.record.id, key.token)
        with TestClient(app, base_url="http://testserver") as tc:
            plain = tc.post("/token", data=CC, headers=auth)
            assert plain.status_code == 200  # no proof, no replay cache needed
            proof = dpop_proof(ec_key(), "POST", "http://testserver/token")
            resp = tc.post("/token", data=CC, headers=auth | {"DPoP": proof})
            assert resp.status_code == 503
            assert resp.json()["error"] == "temporarily_unavailable"
        # A DPoP-bound token from a node without Redis, presented where Redis is down.
        local = create_app(dep.settings.model_copy(update={"redis_url": None}))
        proof_key = ec_key()
        with TestClient(local, base_url="http://testserver") as lc:
            proof = dpop_proof(proof_key, "POST", "http://testserver/token")
            token = lc.post("/token", data=CC, headers=auth | {"DPoP": proof}).json()
        local.state.ctx.db.dispose()
        url = "http://testserver/scim/v2/Users/x"
        with TestClient(app, base_url="http://testserver") as tc:
            use = dpop_proof(proof_key, "GET", url, access_token=token["access_token"])
            resp = tc.get(
                url, headers={"Authorization": f"DPoP {token['access_token']}", "DPoP": use}
            )
            assert resp.status_code == 503, resp.text
    finally:
        app.state.ctx.db.dispose()
        dep.db.dispose()
