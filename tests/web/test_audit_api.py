"""The audit admin API: search with keyset paging, RFC 9162 section 2.1.3/2.1.4 proofs
served over HTTP and verified client-side against a signed checkpoint, and its access
control (an admin API token with ``audit:read``; RFC 6750 section 3: 401 with a
challenge, 403 for a missing scope)."""

from __future__ import annotations

import base64

from starlette.testclient import TestClient

from ostiary.audit.checkpoint import Checkpoint, CheckpointVerifier
from ostiary.audit.merkle import verify_consistency, verify_inclusion
from ostiary.core.clock import FrozenClock
from tests.audit.support import append_events
from tests.support.deploy import Deployment
from tests.support.keys import admin_token

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _b(items: list[str]) -> list[bytes]:
    return [base64.b64decode(i) for i in items]


def test_scim_change_carries_the_key_id_and_version(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """Issue 5 done-when: a SCIM change made with key K carries K's id and version."""
    writer = deployment.make_key(["users:write"], name="hr")
    auditor = admin_token(deployment, clock, ["audit:read"])
    created = client.post(
        "/scim/v2/Users",
        headers=_h(writer.token) | {"User-Agent": "hr-sync/1.0", "X-Request-ID": "req-42"},
        json={"schemas": [USER], "userName": "ada", "password": "s3cret-pass"},
    )
    assert created.status_code == 201
    page = client.get(
        "/api/v1/audit/events", headers=_h(auditor), params={"actor": writer.record.id}
    ).json()
    (event,) = page["events"]
    assert event["action"] == "scim.user.create"
    assert event["actor"] == {
        "kind": "key",
        "id": writer.record.id,
        "auth": "bearer_key",
        "key_version": 1,
    }
    assert event["target"] == {"type": "User", "id": created.json()["id"]}
    assert event["request"]["user_agent"] == "hr-sync/1.0"
    assert event["request"]["request_id"] == "req-42"
    assert event["after"]["userName"] == "ada" and "s3cret-pass" not in str(event)


def test_search_pages_by_cursor_and_filters(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    auditor = admin_token(deployment, clock, ["audit:read"])
    append_events(deployment, 7)
    append_events(deployment, 2, action="key.revoke")
    seen, cursor = [], None
    while True:
        params = {"action": "scim.user.*", "limit": 3} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/audit/events", headers=_h(auditor), params=params).json()
        seen += page["events"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [e["target"]["id"] for e in seen] == [f"user-{i}" for i in range(7)]
    bounded = client.get(
        "/api/v1/audit/events",
        headers=_h(auditor),
        params={
            "since": "2026-03-01T12:02:00Z",
            "until": "2026-03-01T12:04:00Z",
            "action": "scim.user.create",
        },
    ).json()
    assert [e["target"]["id"] for e in bounded["events"]] == ["user-2", "user-3"]
    bad = client.get("/api/v1/audit/events", headers=_h(auditor), params={"since": "soon"})
    assert bad.status_code == 422


def test_proofs_verify_against_signed_checkpoints(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    auditor = admin_token(deployment, clock, ["audit:read"])
    base = _logged(deployment)  # events the app wrote at start-up (signing keys, ...)
    ids = append_events(deployment, 5)
    first = client.post("/api/v1/audit/checkpoints", headers=_h(auditor))
    assert first.status_code == 201
    ids += append_events(deployment, 8)
    second = client.post("/api/v1/audit/checkpoints", headers=_h(auditor)).json()
    key = CheckpointVerifier.from_pem(
        client.get("/api/v1/audit/public-key", headers=_h(auditor)).json()["pem"].encode()
    )
    cp1, cp2 = Checkpoint.from_dict(first.json()), Checkpoint.from_dict(second)
    assert key.verify(cp1) and key.verify(cp2)
    small, large = base + 5, base + 13
    assert (cp1.tree_size, cp2.tree_size) == (small, large)
    for index in (0, 4, 7, 12):
        proof = client.get(
            "/api/v1/audit/proofs/inclusion",
            headers=_h(auditor),
            params={"event_id": ids[index], "tree_size": large},
        ).json()
        position = base + index
        assert proof["leaf_index"] == position
        leaf = base64.b64decode(proof["leaf_hash"])
        path = _b(proof["inclusion_path"])
        assert verify_inclusion(leaf, position, large, path, cp2.root_hash)
    cons = client.get(
        "/api/v1/audit/proofs/consistency",
        headers=_h(auditor),
        params={"first": small, "second": large},
    ).json()
    path = _b(cons["consistency_path"])
    assert verify_consistency(small, large, cp1.root_hash, cp2.root_hash, path)
    too_big = client.get(
        "/api/v1/audit/proofs/consistency",
        headers=_h(auditor),
        params={"first": small, "second": large + 1},
    )
    assert too_big.status_code == 400
    listed = client.get("/api/v1/audit/checkpoints", headers=_h(auditor)).json()
    assert [c["tree_size"] for c in listed["checkpoints"]] == [small, large]


def test_audit_api_needs_an_admin_token_with_the_audit_scope(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    none = client.get("/api/v1/audit/events")
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    keys_only = admin_token(deployment, clock, ["keys:read"])
    assert client.get("/api/v1/audit/events", headers=_h(keys_only)).status_code == 403
    scim_key = deployment.make_key(["users:read"]).token  # a provisioning key is not enough
    assert client.get("/api/v1/audit/events", headers=_h(scim_key)).status_code == 401


def _logged(deployment: Deployment) -> int:
    """How many events the log holds already (start-up writes some: signing keys)."""
    from sqlalchemy import func, select

    from ostiary.store.tables_audit import audit_events

    with deployment.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_events)).scalar_one())


def test_verify_endpoint_reports_tampering(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """The console's verification status: ok, then the first tampered event named."""
    from tests.audit.support import tamper

    auditor = admin_token(deployment, clock, ["audit:read"])
    base = _logged(deployment)
    append_events(deployment, 4)
    assert client.post("/api/v1/audit/checkpoints", headers=_h(auditor)).status_code == 201
    ok = client.get("/api/v1/audit/verify", headers=_h(auditor)).json()
    assert ok["ok"] and ok["events"] == base + 4 and ok["checkpoints_checked"] == 1
    tamper(deployment, f"DELETE FROM audit_events WHERE seq = {base + 1}")
    bad = client.get("/api/v1/audit/verify", headers=_h(auditor)).json()
    assert not bad["ok"]
    assert bad["first_problem"]["kind"] == "deleted"
    assert bad["first_problem"]["position"] == base + 1
