"""The token endpoint's rate limits (issue 4 point 7) and its direct ASGI handling.

The provisioning key is the client secret at /token, so the limits SCIM applies to the
key apply here too: per client IP, per key, and the stricter failed-authentication locks
(RFC 6585 section 4: 429 with Retry-After; the RateLimit header fields). The ASGI fast
path must answer exactly as the Starlette route did: same headers, request id, metrics
label, OAuth error format (RFC 6749 section 5.2), and other grants passed on unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.keys import format as key_format
from ostiary.web.app import create_app
from tests.support.deploy import deploy
from tests.support.oauth import basic

CC = {"grant_type": "client_credentials"}


@pytest.fixture
def limited(database_url: str, tmp_path: Path, clock: FrozenClock) -> Iterator[tuple]:
    dep = deploy(
        database_url,
        tmp_path,
        ip_rate_per_second=1.0,
        ip_rate_burst=6,
        auth_fail_key_per_minute=1.0,
        auth_fail_key_burst=2,
    )
    app = create_app(dep.settings, clock=clock)
    with TestClient(app, base_url="http://testserver") as tc:
        yield dep, tc
    app.state.ctx.db.dispose()
    dep.db.dispose()


def test_the_per_ip_limit_answers_429_with_retry_after(limited):
    dep, client = limited
    key = dep.make_key(["users:read"])
    statuses = [
        client.post("/token", data=CC, headers=basic(key.record.id, key.token)).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 6
    resp = client.post("/token", data=CC, headers=basic(key.record.id, key.token))
    assert resp.status_code == 429
    assert resp.json()["error"] == "slow_down"
    assert int(resp.headers["retry-after"]) >= 1
    assert resp.headers["ratelimit-limit"] == "6"
    assert resp.headers["ratelimit-remaining"] == "0"
    assert resp.headers["cache-control"] == "no-store"


def test_wrong_secrets_lock_the_key_id_not_the_deployment(limited):
    """Failed authentications count against the key id: after the burst the id is locked,
    even for its right secret; another key is unaffected."""
    dep, client = limited
    key, other = dep.make_key(["users:read"]), dep.make_key(["users:read"])
    wrong, _ = key_format.generate(key.record.id)  # right shape and checksum, wrong secret
    for _ in range(2):
        resp = client.post("/token", data=CC, headers=basic(key.record.id, wrong))
        assert resp.status_code == 401
    locked = client.post("/token", data=CC, headers=basic(key.record.id, key.token))
    assert locked.status_code == 429 and locked.json()["error"] == "slow_down"
    fine = client.post("/token", data=CC, headers=basic(other.record.id, other.token))
    assert fine.status_code == 200


def test_the_fast_path_keeps_headers_request_id_and_metrics(client: TestClient, deployment):
    key = deployment.make_key(["users:read"])
    resp = client.post(
        "/token",
        data=CC,
        headers=basic(key.record.id, key.token) | {"X-Request-ID": "rid-123"},
    )
    assert resp.status_code == 200
    assert resp.headers["x-request-id"] == "rid-123"
    assert resp.headers["cache-control"] == "no-store"
    assert resp.headers["pragma"] == "no-cache"
    assert resp.headers["content-type"] == "application/json"
    refused = client.post("/token", data=CC, headers=basic(key.record.id, "ost_pk_nope"))
    assert refused.status_code == 401
    assert refused.json() == {
        "error": "invalid_client",
        "error_description": "client authentication failed",
    }
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert "x-request-id" in refused.headers
    metrics = client.get("/metrics").text
    assert 'route="/token",status="200"' in metrics
    assert 'route="/token",status="401"' in metrics


def test_other_grants_and_methods_are_passed_on(client: TestClient, deployment):
    """Unknown grants get the route's own answer; GET /token is not ours (as before)."""
    resp = client.post("/token", data={"grant_type": "password"})
    assert resp.status_code == 400 and resp.json()["error"] == "unsupported_grant_type"
    assert client.post("/token", data={}).json()["error"] == "invalid_request"
    assert (
        client.post(
            "/token", content=b"{}", headers={"content-type": "application/json"}
        ).status_code
        == 400
    )
    assert client.get("/token").status_code == 404  # as before: the admin mount answers
    code = client.post("/token", data={"grant_type": "authorization_code", "code": "x"})
    assert code.status_code in (400, 401) and "error" in code.json()
