"""The real clients' request shapes, replayed (issue 3 point 8).

Entra ID: https://learn.microsoft.com/entra/identity/app-provisioning/use-scim-to-provision-users-and-groups
Okta: https://developer.okta.com/docs/api/openapi/okta-scim/guides/scim-20
Each test replays the body shape the client sends (RFC 7644 sections 3.3, 3.5.1, 3.5.2)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, ENTERPRISE, GROUP, PATCH, USER, auth

MS_GROUP = "http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group"


@pytest.fixture
def key(deployment: Deployment) -> str:
    return deployment.make_key(ALL_SCOPES).token


def _entra_user(n: str) -> dict[str, Any]:
    # Entra's create body: nulls, an empty roles list, meta, the enterprise extension.
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": f"ext-{n}",
        "userName": f"Test_User_{n}@testuser.com",
        "active": True,
        "displayName": None,
        "emails": [{"primary": True, "type": "work", "value": f"Test_User_{n}@testuser.com"}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName",
                 "givenName": "givenName", "middleName": None},
        "roles": [],
        "title": None,
        ENTERPRISE: {"employeeNumber": None, "department": "R&D"},
    }


def _post(client: TestClient, key: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = client.post(f"/scim/v2/{path}", json=body, headers=auth(key))
    assert resp.status_code == 201, resp.text
    return resp.json()


def _patch(client: TestClient, key: str, url: str, *ops: dict[str, Any]):  # type: ignore[no-untyped-def]
    return client.patch(url, json={"schemas": [PATCH], "Operations": list(ops)},
                        headers=auth(key))


def _members(client: TestClient, key: str, gid: str) -> set[str]:
    got = client.get(f"/scim/v2/Groups/{gid}", headers=auth(key)).json()
    return {m["value"] for m in got.get("members", [])}


# --- Entra ID -------------------------------------------------------------------------


def test_entra_create_with_nulls(client: TestClient, key: str):
    user = _post(client, key, "Users", _entra_user("1"))
    assert "displayName" not in user and "title" not in user and "roles" not in user
    assert user["name"] == {"formatted": "givenName familyName", "familyName": "familyName",
                            "givenName": "givenName"}
    assert user[ENTERPRISE] == {"department": "R&D"}


def test_entra_capitalised_ops_string_boolean_and_dotted_no_path_replace(
    client: TestClient, key: str
):
    user = _post(client, key, "Users", _entra_user("2"))
    url = f"/scim/v2/Users/{user['id']}"
    resp = _patch(
        client, key, url,
        {"op": "Replace", "value": {"name.givenName": "Augusta",
                                    f"{ENTERPRISE}:employeeNumber": "701"}},
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "Add", "path": "title", "value": "Engineer"},
    )
    assert resp.status_code == 200, resp.text
    got = resp.json()
    assert got["active"] is False
    assert got["name"]["givenName"] == "Augusta" and got["title"] == "Engineer"
    assert got[ENTERPRISE] == {"department": "R&D", "employeeNumber": "701"}
    again = _patch(client, key, url, {"op": "Remove", "path": "title"})
    assert "title" not in again.json()


def test_entra_replace_work_email_value_when_there_is_none(client: TestClient, key: str):
    body = _entra_user("3") | {"emails": [{"type": "home", "value": "h@home.example"}]}
    user = _post(client, key, "Users", body)
    resp = _patch(client, key, f"/scim/v2/Users/{user['id']}",
                  {"op": "Replace", "path": 'emails[type eq "work"].value',
                   "value": "w@work.example"})
    assert resp.status_code == 200
    assert {"type": "work", "value": "w@work.example"} in resp.json()["emails"]


def test_entra_manager_by_list_and_by_bare_id(client: TestClient, key: str):
    boss = _post(client, key, "Users", _entra_user("boss"))
    other = _post(client, key, "Users", _entra_user("other"))
    user = _post(client, key, "Users", _entra_user("4"))
    url = f"/scim/v2/Users/{user['id']}"
    ref = f"http://testserver/scim/v2/Users/{boss['id']}"
    resp = _patch(client, key, url,
                  {"op": "Add", "path": "manager", "value": [{"$ref": ref, "value": boss["id"]}]})
    assert resp.json()[ENTERPRISE]["manager"]["value"] == boss["id"]
    resp = _patch(client, key, url, {"op": "Replace", "path": f"{ENTERPRISE}:manager",
                                     "value": other["id"]})
    assert resp.json()[ENTERPRISE]["manager"] == {
        "value": other["id"], "$ref": f"http://testserver/scim/v2/Users/{other['id']}"}
    missing = _patch(client, key, url, {"op": "Replace", "path": f"{ENTERPRISE}:manager",
                                        "value": "no-such-user"})
    assert missing.status_code == 400 and missing.json()["scimType"] == "invalidValue"
    cleared = _patch(client, key, url, {"op": "Replace", "path": f"{ENTERPRISE}:manager",
                                        "value": ""})
    assert "manager" not in cleared.json()[ENTERPRISE]


def test_entra_group_with_ms_schema_and_membership_changes(client: TestClient, key: str):
    a, b, c = (_post(client, key, "Users", _entra_user(f"g{i}"))["id"] for i in range(3))
    group = _post(client, key, "Groups", {
        "schemas": [GROUP, MS_GROUP], "externalId": "grp-1", "displayName": "Sales",
        "meta": {"resourceType": "Group"}, "members": [{"value": a}, {"value": b}],
    })
    url = f"/scim/v2/Groups/{group['id']}"
    # Remove with a value list removes only that member.
    resp = _patch(client, key, url,
                  {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": a}]})
    assert resp.status_code == 204
    assert _members(client, key, group["id"]) == {b}
    # Several membership changes in one PATCH.
    resp = _patch(client, key, url,
                  {"op": "Add", "path": "members", "value": [{"$ref": None, "value": a}]},
                  {"op": "Add", "path": "members", "value": [{"$ref": None, "value": c}]},
                  {"op": "Remove", "path": "members", "value": [{"$ref": None, "value": b}]})
    assert resp.status_code == 204
    assert _members(client, key, group["id"]) == {a, c}


# --- Okta -----------------------------------------------------------------------------


def _okta_user(n: str) -> dict[str, Any]:
    return {
        "schemas": [USER],
        "userName": f"user{n}@corp.local",
        "name": {"givenName": "Jo", "familyName": "Doe"},
        "emails": [{"primary": True, "value": f"user{n}@corp.local", "type": "work"}],
        "displayName": "Jo Doe",
        "locale": "en-US",
        "externalId": f"00u{n}",
        "groups": [],
        "password": "1mP0ssible!",
        "active": True,
    }


def test_okta_get_then_full_put_with_read_only_fields(client: TestClient, key: str):
    """Okta PUTs back what it read: id, meta and groups included (ignored, not errors)."""
    user = _post(client, key, "Users", _okta_user("1"))
    assert user["userName"] == "user1@corp.local"  # .local domains are accepted
    url = f"/scim/v2/Users/{user['id']}"
    current = client.get(url, headers=auth(key)).json()
    current["name"]["givenName"] = "Joanna"
    current["groups"] = [{"value": "made-up", "display": "x"}]
    resp = client.put(url, json=current, headers=auth(key))
    assert resp.status_code == 200, resp.text
    assert resp.json()["name"]["givenName"] == "Joanna" and "groups" not in resp.json()


def test_okta_deactivation_by_put_and_by_patch(client: TestClient, key: str):
    one = _post(client, key, "Users", _okta_user("2"))
    two = _post(client, key, "Users", _okta_user("3"))
    body = client.get(f"/scim/v2/Users/{one['id']}", headers=auth(key)).json()
    body["active"] = False
    put = client.put(f"/scim/v2/Users/{one['id']}", json=body, headers=auth(key))
    assert put.status_code == 200 and put.json()["active"] is False
    resp = _patch(client, key, f"/scim/v2/Users/{two['id']}",
                  {"op": "replace", "value": {"active": False}})
    assert resp.status_code == 200 and resp.json()["active"] is False


def test_okta_member_removal_by_filter_and_rename_by_no_path_replace(
    client: TestClient, key: str
):
    a = _post(client, key, "Users", _okta_user("4"))["id"]
    b = _post(client, key, "Users", _okta_user("5"))["id"]
    group = _post(client, key, "Groups", {"schemas": [GROUP], "displayName": "Ops",
                                          "members": []})
    url = f"/scim/v2/Groups/{group['id']}"
    add = _patch(client, key, url, {"op": "add", "path": "members",
                                    "value": [{"value": a, "display": "user4@corp.local"},
                                              {"value": b, "display": "user5@corp.local"}]})
    assert add.status_code == 204
    rm = _patch(client, key, url, {"op": "remove", "path": f'members[value eq "{a}"]'})
    assert rm.status_code == 204 and _members(client, key, group["id"]) == {b}
    rename = _patch(client, key, url, {"op": "replace",
                                       "value": {"id": group["id"], "displayName": "Ops 2"}})
    assert rename.status_code == 204
    got = client.get(url, headers=auth(key)).json()
    assert got["displayName"] == "Ops 2" and got["id"] == group["id"]
    assert _members(client, key, group["id"]) == {b}
