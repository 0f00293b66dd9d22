"""RFC 7644 section 3.9: "Clients MAY request a partial resource representation on any
operation that returns a resource" - POST (201), PUT and PATCH (200) honour
``attributes`` and ``excludedAttributes`` like GET does; section 3.5.2: a PATCH that
asks for ``attributes`` answers 200 with the resource even where it would answer 204."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, ENTERPRISE, GROUP, auth, patch, user_body


@pytest.fixture
def key(deployment: Deployment) -> str:
    return deployment.make_key(ALL_SCOPES).token


def test_rfc7644_3_9_post_returns_only_the_requested_attributes(client: TestClient, key: str):
    body = user_body("ada@example.com", title="Engineer")
    resp = client.post("/scim/v2/Users?attributes=title", json=body, headers=auth(key))
    assert resp.status_code == 201, resp.text
    doc = resp.json()
    # id, schemas, meta and userName are returned "always" (RFC 7643 section 7).
    assert set(doc) == {"schemas", "id", "meta", "userName", "title"}
    assert resp.headers["Location"] == doc["meta"]["location"]
    assert resp.headers["ETag"] == doc["meta"]["version"]
    full = client.get(resp.headers["Location"], headers=auth(key)).json()
    assert full["emails"][0]["value"] == "ada@example.com"  # the write itself was whole


def test_rfc7644_3_9_put_honours_excluded_attributes(client: TestClient, key: str):
    created = client.post("/scim/v2/Users", json=user_body("ada@example.com"), headers=auth(key))
    url = created.json()["meta"]["location"]
    body = user_body("ada@example.com", **{ENTERPRISE: {"employeeNumber": "7"}})
    resp = client.put(
        f"{url}?excludedAttributes=emails,name.familyName,{ENTERPRISE}",
        json=body,
        headers=auth(key),
    )
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert "emails" not in doc and ENTERPRISE not in doc
    assert ENTERPRISE not in doc["schemas"]  # a dropped extension leaves schemas too
    assert doc["name"] == {"givenName": "Ada"} and doc["userName"] == "ada@example.com"
    stored = client.get(url, headers=auth(key)).json()
    assert stored[ENTERPRISE] == {"employeeNumber": "7"} and stored["emails"]


def test_rfc7644_3_9_user_patch_projects_its_200(client: TestClient, key: str):
    created = client.post("/scim/v2/Users", json=user_body("ada@example.com"), headers=auth(key))
    url = created.json()["meta"]["location"]
    change = patch({"op": "replace", "path": "displayName", "value": "Ada L"})
    resp = client.patch(f"{url}?ATTRIBUTES=displayName", json=change, headers=auth(key))
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"schemas", "id", "meta", "userName", "displayName"}
    assert resp.json()["displayName"] == "Ada L"
    plain = client.patch(url, json=change, headers=auth(key))
    assert plain.status_code == 200 and "emails" in plain.json()


def test_rfc7644_3_5_2_group_patch_with_attributes_answers_200(client: TestClient, key: str):
    user = client.post("/scim/v2/Users", json=user_body("ada@example.com"), headers=auth(key))
    group = client.post(
        "/scim/v2/Groups?excludedAttributes=members",
        json={
            "schemas": [GROUP],
            "displayName": "Staff",
            "members": [{"value": user.json()["id"]}],
        },
        headers=auth(key),
    )
    assert group.status_code == 201, group.text
    assert "members" not in group.json() and group.json()["displayName"] == "Staff"
    url = group.json()["meta"]["location"]
    rename = patch({"op": "replace", "path": "displayName", "value": "Crew"})
    # Without a representation asked for, a group PATCH stays 204 (no 100,000 members).
    assert client.patch(url, json=rename, headers=auth(key)).status_code == 204
    rename = patch({"op": "replace", "path": "displayName", "value": "Team"})
    resp = client.patch(f"{url}?attributes=displayName", json=rename, headers=auth(key))
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert set(doc) == {"schemas", "id", "meta", "displayName"} and doc["displayName"] == "Team"
    assert resp.headers["ETag"] == doc["meta"]["version"]
    resp = client.patch(f"{url}?attributes=members", json=rename, headers=auth(key))
    assert [m["value"] for m in resp.json()["members"]] == [user.json()["id"]]


def test_rfc7644_3_9_group_put_honours_attributes(client: TestClient, key: str):
    group = client.post(
        "/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "Staff"}, headers=auth(key)
    )
    url = group.json()["meta"]["location"]
    body = {"schemas": [GROUP], "displayName": "Staff 2", "externalId": "g-1"}
    resp = client.put(f"{url}?attributes=externalId", json=body, headers=auth(key))
    assert resp.status_code == 200, resp.text
    assert set(resp.json()) == {"schemas", "id", "meta", "externalId"}


def test_rfc7644_3_9_unknown_names_in_a_write_do_not_fail_it(client: TestClient, key: str):
    """A name the schema lacks selects nothing; the write still succeeds (and is not a
    partial write: the whole body is stored)."""
    resp = client.post(
        "/scim/v2/Users?attributes=nope", json=user_body("bob@example.com"), headers=auth(key)
    )
    assert resp.status_code == 201, resp.text
    assert set(resp.json()) == {"schemas", "id", "meta", "userName"}
