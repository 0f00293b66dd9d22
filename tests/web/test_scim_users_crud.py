"""PUT, PATCH and DELETE on /Users, ETags, passwords, scopes and audit.

RFC 7644 sections 3.5.1 (PUT), 3.5.2 (PATCH), 3.6 (DELETE), 3.14 (ETags);
RFC 7643 sections 2.2 (mutability), 4.1 (User), 4.3 (enterprise extension)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from ostiary.directory.passwords import verify_password
from ostiary.store.repositories.users import UserRepository
from ostiary.store.tables import users
from ostiary.store.tables_audit import audit_events
from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, ENTERPRISE, auth, patch, user_body


@pytest.fixture
def key(deployment: Deployment) -> str:
    return deployment.make_key(ALL_SCOPES).token


def _create(client: TestClient, key: str, name: str = "ada@example.com", **extra: Any) -> dict:
    resp = client.post("/scim/v2/Users", json=user_body(name, **extra), headers=auth(key))
    assert resp.status_code == 201, resp.text
    return resp.json()


def _actions(deployment: Deployment) -> list[str]:
    with deployment.db.read() as conn:
        return list(
            conn.execute(select(audit_events.c.action).order_by(audit_events.c.id)).scalars()
        )


def test_put_replaces_the_resource_and_bumps_the_version(client: TestClient, key: str):
    """Section 3.5.1: PUT replaces; attributes not sent are removed; readOnly ignored."""
    user = _create(client, key, title="Countess")
    body = user_body("ada@example.com", displayName="Ada")
    body |= {"id": "ignored", "meta": {"version": 'W/"77"'}, "groups": [{"value": "x"}]}
    resp = client.put(f"/scim/v2/Users/{user['id']}", json=body, headers=auth(key))
    assert resp.status_code == 200
    got = resp.json()
    assert got["id"] == user["id"] and "title" not in got and got["displayName"] == "Ada"
    assert got["meta"]["version"] == resp.headers["etag"] == 'W/"2"'
    assert got["meta"]["created"] == user["meta"]["created"]


def test_patch_then_get_shows_the_change(client: TestClient, key: str):
    user = _create(client, key)
    resp = client.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch({"op": "replace", "path": "name.givenName", "value": "Augusta"}),
        headers=auth(key),
    )
    assert resp.status_code == 200 and resp.json()["name"]["givenName"] == "Augusta"
    assert client.get(f"/scim/v2/Users/{user['id']}", headers=auth(key)).json() == resp.json()


def test_patch_is_atomic(client: TestClient, key: str, deployment: Deployment):
    """Section 3.5.2: if one operation fails, none is applied."""
    user = _create(client, key)
    resp = client.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch(
            {"op": "replace", "path": "displayName", "value": "Changed"},
            {"op": "replace", "path": "nosuch", "value": 1},
        ),
        headers=auth(key),
    )
    assert resp.status_code == 400 and resp.json()["scimType"] == "noTarget"
    got = client.get(f"/scim/v2/Users/{user['id']}", headers=auth(key)).json()
    assert "displayName" not in got and got["meta"]["version"] == 'W/"1"'
    assert "scim.user.update" not in _actions(deployment)


def test_delete_then_404(client: TestClient, key: str, deployment: Deployment):
    """Section 3.6: DELETE answers 204, then the resource is gone (404)."""
    user = _create(client, key)
    assert client.delete(f"/scim/v2/Users/{user['id']}", headers=auth(key)).status_code == 204
    assert client.get(f"/scim/v2/Users/{user['id']}", headers=auth(key)).status_code == 404
    assert client.delete(f"/scim/v2/Users/{user['id']}", headers=auth(key)).status_code == 404
    assert {"scim.user.delete", "scim.user.deactivate"} <= set(_actions(deployment))


def test_etags(client: TestClient, key: str):
    """Section 3.14: If-Match mismatch is 412 on PUT/PATCH/DELETE; If-None-Match gives 304."""
    user = _create(client, key)
    url = f"/scim/v2/Users/{user['id']}"
    stale = auth(key, **{"If-Match": 'W/"9"'})
    op = patch({"op": "replace", "path": "displayName", "value": "x"})
    assert client.patch(url, json=op, headers=stale).status_code == 412
    assert client.put(url, json=user_body("ada@example.com"), headers=stale).status_code == 412
    assert client.delete(url, headers=stale).status_code == 412
    current = auth(key, **{"If-Match": 'W/"1"'})
    assert client.patch(url, json=op, headers=current).status_code == 200
    assert client.get(url, headers=auth(key, **{"If-None-Match": 'W/"2"'})).status_code == 304
    assert client.get(url, headers=auth(key, **{"If-None-Match": 'W/"1"'})).status_code == 200
    assert client.delete(url, headers=auth(key, **{"If-Match": "*"})).status_code == 204


def test_password_is_hashed_never_returned_and_changeable(
    client: TestClient, key: str, deployment: Deployment
):
    """RFC 7643 section 4.1.1: password is writeOnly, returned never; stored as argon2id."""
    user = _create(client, key, password="first secret")
    assert "password" not in user
    resp = client.patch(
        f"/scim/v2/Users/{user['id']}",
        json=patch({"op": "replace", "path": "password", "value": "second secret"}),
        headers=auth(key),
    )
    assert "password" not in resp.json()
    with deployment.db.read() as conn:
        stored = UserRepository(conn).require(user["id"])
    assert stored.password_hash and stored.password_hash.startswith("$argon2id$")
    assert verify_password(stored.password_hash, "second secret")
    assert "password" not in stored.doc
    with deployment.db.read() as conn:
        entries = list(conn.execute(select(audit_events.c.entry)).scalars())
    assert not any("secret" in e for e in entries)


def test_user_name_uniqueness_on_update(client: TestClient, key: str):
    _create(client, key, "grace@example.com")
    other = _create(client, key, "linus@example.com")
    resp = client.patch(
        f"/scim/v2/Users/{other['id']}",
        json=patch({"op": "replace", "path": "userName", "value": "GRACE@example.com"}),
        headers=auth(key),
    )
    assert resp.status_code == 409 and resp.json()["scimType"] == "uniqueness"


def test_manager_must_exist(client: TestClient, key: str):
    """A reference to a manager that does not exist is a 400 invalidValue, never a 500."""
    boss = _create(client, key, "boss@example.com")
    user = _create(client, key, **{ENTERPRISE: {"manager": {"value": boss["id"]}}})
    manager = user[ENTERPRISE]["manager"]
    assert manager["value"] == boss["id"]
    assert manager["$ref"].endswith(f"/Users/{boss['id']}")
    resp = client.post(
        "/scim/v2/Users",
        json=user_body("x@example.com", **{ENTERPRISE: {"manager": {"value": "missing"}}}),
        headers=auth(key),
    )
    assert resp.status_code == 400 and resp.json()["scimType"] == "invalidValue"


def test_deactivation_and_delete_need_users_deprovision(client: TestClient, deployment: Deployment):
    """users:write alone may edit users but not deactivate or delete them (403, audited)."""
    admin = deployment.make_key(ALL_SCOPES).token
    writer = deployment.make_key(["users:read", "users:write"]).token
    user = _create(client, admin, active=True)
    url = f"/scim/v2/Users/{user['id']}"
    off = patch({"op": "replace", "path": "active", "value": False})
    assert client.patch(url, json=off, headers=auth(writer)).status_code == 403
    put_off = user_body("ada@example.com", active=False)
    assert client.put(url, json=put_off, headers=auth(writer)).status_code == 403
    assert client.delete(url, headers=auth(writer)).status_code == 403
    assert client.get(url, headers=auth(writer)).json()["active"] is True
    ok = client.patch(
        url, json=patch({"op": "replace", "path": "title", "value": "x"}), headers=auth(writer)
    )
    assert ok.status_code == 200
    assert _actions(deployment).count("auth.scope.denied") == 3
    assert client.patch(url, json=off, headers=auth(admin)).json()["active"] is False
    assert _actions(deployment).count("scim.user.deactivate") == 1
    # A deprovision-only key (an HR kill switch) may delete, but not edit.
    killer = deployment.make_key(["users:deprovision"]).token
    assert client.patch(url, json=off, headers=auth(killer)).status_code == 403
    assert client.delete(url, headers=auth(killer)).status_code == 204


def test_user_groups_are_rendered_read_only(client: TestClient, key: str):
    user = _create(client, key)
    group = client.post(
        "/scim/v2/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Eng",
            "members": [{"value": user["id"]}],
        },
        headers=auth(key),
    ).json()
    got = client.get(f"/scim/v2/Users/{user['id']}", headers=auth(key)).json()
    assert got["groups"] == [
        {
            "value": group["id"],
            "$ref": f"http://testserver/scim/v2/Groups/{group['id']}",
            "display": "Eng",
            "type": "direct",
        }
    ]


def test_me_refuses_a_provisioning_key_in_scim_format_rfc7644_3_11(client: TestClient, key: str):
    """A provisioning key is not a user: /Me answers 401 (tests/web/test_scim_me.py)."""
    resp = client.get("/scim/v2/Me", headers=auth(key))
    assert resp.status_code == 401
    assert resp.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert resp.headers["www-authenticate"].startswith("Bearer")


def test_another_unique_index_is_a_uniqueness_conflict_not_a_500(
    client: TestClient, key: str, deployment: Deployment
):
    """RFC 7644 s3.3: a create that clashes with a stored resource is 409 uniqueness,
    whichever unique index catches it (here one an operator added on externalId)."""
    with deployment.db.begin() as conn:
        conn.execute(text("CREATE UNIQUE INDEX ux_test_external_id ON users (external_id)"))
    _create(client, key, "first@example.com", externalId="same")
    resp = client.post(
        "/scim/v2/Users",
        json=user_body("second@example.com", externalId="same"),
        headers=auth(key),
    )
    assert resp.status_code == 409, resp.text
    assert resp.json()["scimType"] == "uniqueness"
    with deployment.db.read() as conn:
        names = conn.execute(select(users.c.user_name)).scalars().all()
    assert names == ["first@example.com"]
