"""Outbound provisioning (issue 8 points 1 and 6): a SCIM write queues one push per
enabled target in its own transaction. A Bulk operation that fails (RFC 7644 s3.7.3,
its savepoint rolled back) queues nothing; a request refused as a whole queues nothing;
with no target nothing is queued at all."""

from __future__ import annotations

from collections import Counter
from typing import Any

from starlette.testclient import TestClient

from ostiary.core.clock import SystemClock
from ostiary.store.repositories.outbox import OutboxRepository
from ostiary.store.repositories.provisioning import TOPIC, ProvisioningRepository
from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, BULK, auth, user_body


def _queued(dep: Deployment) -> Counter[tuple[str, str, str]]:
    with dep.db.read() as conn:
        rows = OutboxRepository(conn).recent(topic=TOPIC, limit=1000)
    return Counter((m.destination, m.payload["type"], m.payload["name"]) for m in rows)


def _target(dep: Deployment, name: str) -> str:
    with dep.db.begin() as conn:
        t = ProvisioningRepository(conn).add(
            name, "http://127.0.0.1:9/scim/v2", SystemClock().now(), token_ref={"env": "X"}
        )
    return t.id


def _bulk(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"schemas": [BULK], "Operations": list(ops), "failOnErrors": 10}


def test_a_write_queues_one_push_per_target_and_failures_queue_nothing(
    client: TestClient, deployment: Deployment
):
    key = deployment.make_key(ALL_SCOPES).token
    client.post("/scim/v2/Users", json=user_body("early@example.com"), headers=auth(key))
    assert _queued(deployment) == Counter()  # no target yet: nothing queued
    a, b = _target(deployment, "a"), _target(deployment, "b")

    resp = client.post("/scim/v2/Users", json=user_body("ada@example.com"), headers=auth(key))
    assert resp.status_code == 201
    assert _queued(deployment) == Counter(
        {(a, "User", "ada@example.com"): 1, (b, "User", "ada@example.com"): 1}
    )

    dup = client.post("/scim/v2/Users", json=user_body("ada@example.com"), headers=auth(key))
    assert dup.status_code == 409  # rolled back: no push for a write that did not happen
    req = _bulk(
        {"method": "POST", "path": "/Users", "bulkId": "ok", "data": user_body("bob@example.com")},
        {"method": "POST", "path": "/Users", "bulkId": "dup", "data": user_body("ada@example.com")},
    )
    ops = client.post("/scim/v2/Bulk", json=req, headers=auth(key)).json()["Operations"]
    assert [o["status"] for o in ops] == ["201", "409"]
    queued = _queued(deployment)
    assert queued[(a, "User", "bob@example.com")] == 1
    assert queued[(a, "User", "ada@example.com")] == 1 and sum(queued.values()) == 4


def test_a_disabled_target_gets_nothing(client: TestClient, deployment: Deployment):
    key = deployment.make_key(ALL_SCOPES).token
    a = _target(deployment, "a")
    with deployment.db.begin() as conn:
        assert ProvisioningRepository(conn).set_enabled("a", False)
    client.post("/scim/v2/Users", json=user_body("ada@example.com"), headers=auth(key))
    assert _queued(deployment) == Counter()
    with deployment.db.begin() as conn:
        assert ProvisioningRepository(conn).set_enabled("a", True)
    client.post("/scim/v2/Users", json=user_body("bob@example.com"), headers=auth(key))
    assert _queued(deployment) == Counter({(a, "User", "bob@example.com"): 1})
