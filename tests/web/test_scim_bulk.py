"""Bulk (RFC 7644 section 3.7): bulkIds, failOnErrors, limits, savepoints, scopes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy
from tests.web.scim_support import ALL_SCOPES, BULK, GROUP, auth, user_body


def _bulk(*ops: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK], "Operations": list(ops), **extra}


def _post_user(bulk_id: str, name: str) -> dict[str, Any]:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": user_body(name)}


def _post_group(bulk_id: str, name: str, members: list[str]) -> dict[str, Any]:
    data = {"schemas": [GROUP], "displayName": name, "members": [{"value": m} for m in members]}
    return {"method": "POST", "path": "/Groups", "bulkId": bulk_id, "data": data}


@pytest.fixture
def key(deployment: Deployment) -> str:
    return deployment.make_key(ALL_SCOPES).token


def test_forward_and_nested_bulk_id_references(client: TestClient, key: str):
    """Section 3.7.2: a group may name a user created later in the same request, and a
    group may contain a group that itself refers to a bulkId."""
    req = _bulk(
        _post_group("outer", "Outer", ["bulkId:inner"]),
        _post_group("inner", "Inner", ["bulkId:ada"]),
        _post_user("ada", "ada@example.com"),
        _post_user("bob", "bob@example.com"),
        {"method": "PATCH", "path": "/Groups/bulkId:inner", "data": {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": "bulkId:bob"}]}],
        }},
    )
    resp = client.post("/scim/v2/Bulk", json=req, headers=auth(key))
    assert resp.status_code == 200
    ops = resp.json()["Operations"]
    assert [o.get("bulkId") for o in ops] == ["outer", "inner", "ada", "bob", None]
    assert [o["status"] for o in ops] == ["201", "201", "201", "201", "204"]
    outer = client.get(ops[0]["location"], headers=auth(key)).json()
    inner = client.get(ops[1]["location"], headers=auth(key)).json()
    ada = client.get(ops[2]["location"], headers=auth(key)).json()
    assert [m["value"] for m in outer["members"]] == [inner["id"]]
    bob = client.get(ops[3]["location"], headers=auth(key)).json()
    assert sorted(m["value"] for m in inner["members"]) == sorted([ada["id"], bob["id"]])


def test_circular_bulk_ids_fail_without_partial_writes(client: TestClient, key: str):
    req = _bulk(_post_group("a", "A", ["bulkId:b"]), _post_group("b", "B", ["bulkId:a"]),
                _post_user("u", "u@example.com"))
    ops = client.post("/scim/v2/Bulk", json=req, headers=auth(key)).json()["Operations"]
    statuses = {o["bulkId"]: o["status"] for o in ops}
    assert statuses == {"a": "409", "b": "409", "u": "201"}


def test_each_operation_has_its_own_savepoint(client: TestClient, key: str):
    """A failed operation rolls back alone; the others commit."""
    req = _bulk(
        _post_user("a", "same@example.com"),
        _post_user("b", "SAME@example.com"),
        _post_group("g", "G", ["bulkId:a", "nobody"]),
        _post_user("c", "c@example.com"),
    )
    ops = client.post("/scim/v2/Bulk", json=req, headers=auth(key)).json()["Operations"]
    assert [o["status"] for o in ops] == ["201", "409", "400", "201"]
    assert ops[1]["response"]["scimType"] == "uniqueness"
    assert "location" not in ops[2]


def test_fail_on_errors_stops_processing(client: TestClient, key: str):
    req = _bulk(
        {"method": "DELETE", "path": "/Users/missing-1"},
        {"method": "DELETE", "path": "/Users/missing-2"},
        _post_user("late", "late@example.com"),
        failOnErrors=2,
    )
    ops = client.post("/scim/v2/Bulk", json=req, headers=auth(key)).json()["Operations"]
    assert [o["status"] for o in ops] == ["404", "404"]


def test_put_patch_delete_and_version_in_bulk(client: TestClient, key: str):
    created = client.post("/scim/v2/Users", json=user_body("v@example.com"),
                          headers=auth(key)).json()
    path = f"/Users/{created['id']}"
    patch_data = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                  "Operations": [{"op": "replace", "path": "title", "value": "T"}]}
    req = _bulk(
        {"method": "PATCH", "path": path, "version": 'W/"1"', "data": patch_data},
        {"method": "PATCH", "path": path, "version": 'W/"1"', "data": patch_data},
        {"method": "PUT", "path": path, "data": user_body("v@example.com")},
        {"method": "DELETE", "path": path},
    )
    ops = client.post("/scim/v2/Bulk", json=req, headers=auth(key)).json()["Operations"]
    assert [o["status"] for o in ops] == ["200", "412", "200", "204"]
    assert ops[0]["version"] == 'W/"2"'


def test_bulk_needs_the_bulk_scope_and_each_operation_its_own(
    client: TestClient, deployment: Deployment
):
    no_bulk = deployment.make_key(["users:write"]).token
    req = _bulk(_post_user("a", "a@example.com"))
    assert client.post("/scim/v2/Bulk", json=req, headers=auth(no_bulk)).status_code == 403
    users_only = deployment.make_key(["bulk", "users:write"]).token
    req = _bulk(_post_user("a", "a@example.com"), _post_group("g", "G", []))
    ops = client.post("/scim/v2/Bulk", json=req, headers=auth(users_only)).json()["Operations"]
    assert [o["status"] for o in ops] == ["201", "403"]


@pytest.fixture
def small(sqlite_url: str, tmp_path: Path, clock) -> Iterator[tuple[TestClient, str]]:  # type: ignore[no-untyped-def]
    dep = deploy(sqlite_url, tmp_path, scim_bulk_max_operations=2,
                 scim_bulk_max_payload_bytes=2048)
    key = dep.make_key(ALL_SCOPES).token
    app = create_app(dep.settings, clock=clock)
    with TestClient(app, base_url="http://testserver") as tc:
        yield tc, key
    app.state.ctx.db.dispose()
    dep.db.dispose()


def test_limits_give_413(small):  # type: ignore[no-untyped-def]
    """Section 3.7.4: beyond maxOperations or maxPayloadSize the answer is 413."""
    client, key = small
    three = _bulk(*[_post_user(f"u{i}", f"u{i}@example.com") for i in range(3)])
    assert client.post("/scim/v2/Bulk", json=three, headers=auth(key)).status_code == 413
    big = _bulk(_post_user("u", "u@example.com") | {"data": user_body("u@x", title="x" * 3000)})
    resp = client.post("/scim/v2/Bulk", json=big, headers=auth(key))
    assert resp.status_code == 413 and resp.json()["status"] == "413"
