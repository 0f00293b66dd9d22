"""/Groups CRUD and membership (RFC 7643 section 4.2; RFC 7644 sections 3.3-3.6)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import event, func, insert, select
from starlette.testclient import TestClient

from ostiary.store.tables import group_members, users
from ostiary.store.tables_audit import audit_events
from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, GROUP, auth, patch, user_body


@pytest.fixture
def key(deployment: Deployment) -> str:
    return deployment.make_key(ALL_SCOPES).token


def _user(client: TestClient, key: str, name: str) -> str:
    resp = client.post("/scim/v2/Users", json=user_body(name), headers=auth(key))
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _group(client: TestClient, key: str, name: str, members: list[str] | None = None) -> dict:
    body: dict[str, Any] = {"schemas": [GROUP], "displayName": name}
    if members is not None:
        body["members"] = [{"value": m} for m in members]
    resp = client.post("/scim/v2/Groups", json=body, headers=auth(key))
    assert resp.status_code == 201, resp.text
    return resp.json()


def _member_ids(client: TestClient, key: str, gid: str) -> list[str]:
    got = client.get(f"/scim/v2/Groups/{gid}", headers=auth(key)).json()
    return sorted(m["value"] for m in got.get("members", []))


def test_group_crud_with_user_and_group_members(client: TestClient, key: str):
    a, b = _user(client, key, "a@x.example"), _user(client, key, "b@x.example")
    inner = _group(client, key, "Inner")
    outer = _group(client, key, "Outer", [a, inner["id"]])
    assert outer["meta"]["resourceType"] == "Group"
    by_id = {m["value"]: m for m in outer["members"]}
    assert by_id[a]["type"] == "User" and by_id[inner["id"]]["type"] == "Group"
    assert by_id[a]["$ref"] == f"http://testserver/scim/v2/Users/{a}"
    put = client.put(
        f"/scim/v2/Groups/{outer['id']}",
        json={"schemas": [GROUP], "displayName": "Outer2", "members": [{"value": b}]},
        headers=auth(key),
    )
    assert put.status_code == 200 and put.json()["displayName"] == "Outer2"
    assert _member_ids(client, key, outer["id"]) == [b]
    assert client.delete(f"/scim/v2/Groups/{outer['id']}", headers=auth(key)).status_code == 204
    assert client.get(f"/scim/v2/Groups/{outer['id']}", headers=auth(key)).status_code == 404


def test_unknown_member_is_400_invalid_value(client: TestClient, key: str):
    """A member that does not exist is a 400 (clients retry a 5xx forever)."""
    body = {"schemas": [GROUP], "displayName": "G", "members": [{"value": "nobody"}]}
    resp = client.post("/scim/v2/Groups", json=body, headers=auth(key))
    assert resp.status_code == 400 and resp.json()["scimType"] == "invalidValue"
    group = _group(client, key, "G")
    resp = client.patch(
        f"/scim/v2/Groups/{group['id']}",
        json=patch({"op": "add", "path": "members", "value": [{"value": "nobody"}]}),
        headers=auth(key),
    )
    assert resp.status_code == 400 and resp.json()["scimType"] == "invalidValue"


def test_membership_patch_is_atomic_and_audited(
    client: TestClient, key: str, deployment: Deployment
):
    a, b = _user(client, key, "a@x.example"), _user(client, key, "b@x.example")
    group = _group(client, key, "G", [a])
    url = f"/scim/v2/Groups/{group['id']}"
    bad = patch(
        {"op": "add", "path": "members", "value": [{"value": b}]},
        {"op": "remove", "path": f'members[value eq "{a}"]'},
        {"op": "add", "path": "members", "value": [{"value": "missing"}]},
    )
    assert client.patch(url, json=bad, headers=auth(key)).status_code == 400
    assert _member_ids(client, key, group["id"]) == [a]
    good = patch(
        {"op": "add", "path": "members", "value": [{"value": b}]},
        {"op": "remove", "path": f'members[value eq "{a}"]'},
    )
    resp = client.patch(url, json=good, headers=auth(key))
    assert resp.status_code == 204 and resp.headers["etag"] == 'W/"2"'
    assert _member_ids(client, key, group["id"]) == [b]
    with deployment.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.action, audit_events.c.entry).where(
                audit_events.c.action.like("scim.group.members.%")
            )
        ).all()
    details = {r.action: orjson.loads(r.entry)["detail"] for r in rows}
    assert details["scim.group.members.add"]["ids"] == [b]
    assert details["scim.group.members.remove"]["ids"] == [a]


def test_one_member_patch_on_a_big_group_touches_one_row(
    client: TestClient, key: str, deployment: Deployment
):
    """Memberships are rows: a 1-member PATCH never rewrites or re-reads the member list."""
    group = _group(client, key, "Big")
    size = 3000
    with deployment.db.begin() as conn:
        conn.execute(insert(users), [_raw_user(i) for i in range(size)])
        conn.execute(
            insert(group_members),
            [
                {"group_id": group["id"], "member_id": f"u-{i:06d}", "member_type": "User"}
                for i in range(size)
            ],
        )
    new = _user(client, key, "new@x.example")
    statements: list[str] = []
    engine = client.app.state.ctx.db.engine  # type: ignore[attr-defined]

    def record(_conn, _cursor, statement, params, _context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)
        assert not executemany or len(params) <= 1

    event.listen(engine, "before_cursor_execute", record)
    try:
        ops = patch(
            {"op": "add", "path": "members", "value": [{"value": new}]},
            {"op": "remove", "path": 'members[value eq "u-000007"]'},
        )
        resp = client.patch(f"/scim/v2/Groups/{group['id']}", json=ops, headers=auth(key))
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert resp.status_code == 204
    member_selects = [
        s for s in statements if "FROM group_members" in s and "member_id IN" not in s
    ]
    assert member_selects == []  # no statement reads the whole membership
    with deployment.db.read() as conn:
        count = conn.execute(
            select(func.count()).where(group_members.c.group_id == group["id"])
        ).scalar()
    assert count == size


def _raw_user(i: int) -> dict[str, Any]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    return {
        "id": f"u-{i:06d}",
        "user_name": f"bulk{i}",
        "user_name_key": f"bulk{i}",
        "active": True,
        "doc": {},
        "version": 1,
        "created_at": now,
        "updated_at": now,
    }


def test_excluded_members_are_not_returned(client: TestClient, key: str):
    """Entra reads groups with excludedAttributes=members."""
    a = _user(client, key, "a@x.example")
    group = _group(client, key, "G", [a])
    got = client.get(
        f"/scim/v2/Groups/{group['id']}?excludedAttributes=members", headers=auth(key)
    ).json()
    assert "members" not in got and got["displayName"] == "G"


def test_deleting_a_user_removes_its_memberships(client: TestClient, key: str):
    a, b = _user(client, key, "a@x.example"), _user(client, key, "b@x.example")
    group = _group(client, key, "G", [a, b])
    assert client.delete(f"/scim/v2/Users/{a}", headers=auth(key)).status_code == 204
    assert _member_ids(client, key, group["id"]) == [b]
    got = client.get(f"/scim/v2/Groups/{group['id']}", headers=auth(key)).json()
    assert got["meta"]["version"] == 'W/"2"'  # the member list changed, so does the ETag
    inner = _group(client, key, "Inner")
    outer = _group(client, key, "Outer", [inner["id"], b])
    assert client.delete(f"/scim/v2/Groups/{inner['id']}", headers=auth(key)).status_code == 204
    assert _member_ids(client, key, outer["id"]) == [b]


def test_group_write_needs_groups_write(client: TestClient, deployment: Deployment):
    reader = deployment.make_key(["groups:read"]).token
    resp = client.post(
        "/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "G"}, headers=auth(reader)
    )
    assert resp.status_code == 403


def test_concurrent_membership_patches_all_apply(client: TestClient, key: str):
    """Writers of one group queue on its row lock: none fails, none is lost."""
    from concurrent.futures import ThreadPoolExecutor

    ids = [_user(client, key, f"c{i}@x.example") for i in range(6)]
    group = _group(client, key, "Busy")
    url = f"/scim/v2/Groups/{group['id']}"

    def add(uid: str) -> int:
        ops = patch(
            {"op": "add", "path": "members", "value": [{"value": uid}]},
            {"op": "add", "path": "members", "value": [{"value": ids[0]}]},
        )
        return client.patch(url, json=ops, headers=auth(key)).status_code

    with ThreadPoolExecutor(6) as pool:
        statuses = list(pool.map(add, ids))
    assert statuses == [204] * 6
    assert _member_ids(client, key, group["id"]) == sorted(ids)
    final = client.get(url, headers=auth(key)).json()
    assert final["meta"]["version"] == 'W/"7"'


def test_members_patch_if_match_and_precedence(client: TestClient, key: str):
    """RFC 7644 section 3.14: a members-only PATCH with a stale If-Match is 412 and changes
    nothing (not the members, not the version); the current tag applies it. A malformed
    member operation on a missing group is still 404 first (section 3.12)."""
    a, b = _user(client, key, "a@x.example"), _user(client, key, "b@x.example")
    group = _group(client, key, "G", [a])
    url = f"/scim/v2/Groups/{group['id']}"
    add_b = patch({"op": "add", "path": "members", "value": [{"value": b}]})
    stale = client.patch(url, json=add_b, headers={**auth(key), "If-Match": 'W/"7"'})
    assert stale.status_code == 412
    assert _member_ids(client, key, group["id"]) == [a]
    assert client.get(url, headers=auth(key)).headers["etag"] == 'W/"1"'
    fresh = client.patch(url, json=add_b, headers={**auth(key), "If-Match": 'W/"1"'})
    assert fresh.status_code == 204 and fresh.headers["etag"] == 'W/"2"'
    assert _member_ids(client, key, group["id"]) == sorted([a, b])
    again = client.patch(url, json=add_b, headers=auth(key))  # already a member: no row added
    assert again.status_code == 204 and _member_ids(client, key, group["id"]) == sorted([a, b])
    bad = patch({"op": "replace", "path": "members.value", "value": "x"})
    assert client.patch("/scim/v2/Groups/nope", json=bad, headers=auth(key)).status_code == 404
    assert client.patch(url, json=bad, headers=auth(key)).status_code == 400
