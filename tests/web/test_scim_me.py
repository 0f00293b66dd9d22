"""SCIM /Me (RFC 7644 section 3.11) for a user's OpenID Connect access token."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.deploy import Deployment
from tests.support.rp import code_flow_tokens, register, scim_user

ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ALL = "openid profile email groups phone"


def _setup(client: TestClient, deployment: Deployment) -> tuple[str, str]:
    register(client.app, client_type="public")
    key = deployment.make_key(["users:read", "users:write", "users:deprovision"]).token
    user_id = scim_user(
        client,
        key,
        emails=[{"value": "ada@example.com", "type": "work", "primary": True}],
        phoneNumbers=[{"value": "+44 20 7946 0000", "type": "work"}],
        name={"givenName": "Ada", "familyName": "Lovelace"},
        externalId="hr-1815",
        **{ENTERPRISE: {"department": "Analytical Engines"}},
    )
    return key, user_id


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_get_me_returns_the_users_resource_rfc7644_3_11(client: TestClient, deployment: Deployment):
    _, user_id = _setup(client, deployment)
    tokens = code_flow_tokens(client, scope=ALL)
    resp = client.get("/scim/v2/Me", headers=_bearer(tokens["access_token"]))
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/scim+json")
    doc = resp.json()
    assert doc["id"] == user_id and doc["userName"] == "ada@example.com"
    assert doc["emails"][0]["value"] == "ada@example.com"
    assert doc[ENTERPRISE]["department"] == "Analytical Engines"
    assert doc["meta"]["location"] == f"http://testserver/scim/v2/Users/{user_id}"
    assert resp.headers["content-location"] == doc["meta"]["location"]
    assert resp.headers["etag"] == doc["meta"]["version"]
    assert "password" not in doc
    # If-None-Match (RFC 7644 3.14) works as on /Users/{id}.
    again = client.get(
        "/scim/v2/Me",
        headers=_bearer(tokens["access_token"]) | {"If-None-Match": resp.headers["etag"]},
    )
    assert again.status_code == 304


def test_me_honours_attributes_and_excluded_attributes_rfc7644_3_9(
    client: TestClient, deployment: Deployment
):
    _setup(client, deployment)
    bearer = _bearer(code_flow_tokens(client, scope=ALL)["access_token"])
    only = client.get("/scim/v2/Me", params={"attributes": "emails"}, headers=bearer).json()
    assert "emails" in only and only["id"]  # id is returned always (RFC 7643 section 7)
    assert "name" not in only and "phoneNumbers" not in only and ENTERPRISE not in only
    less = client.get(
        "/scim/v2/Me", params={"excludedAttributes": "emails,name"}, headers=bearer
    ).json()
    assert "emails" not in less and "name" not in less and less["userName"] == "ada@example.com"


def test_me_shows_only_what_the_token_scopes_consented_to(
    client: TestClient, deployment: Deployment
):
    """Like UserInfo (OIDC Core 5.4): a token for ``openid email`` reads no name, phone,
    extension or externalId."""
    _setup(client, deployment)
    bearer = _bearer(code_flow_tokens(client, scope="openid email")["access_token"])
    doc = client.get("/scim/v2/Me", headers=bearer).json()
    assert doc["emails"][0]["value"] == "ada@example.com"
    for hidden in ("name", "phoneNumbers", "externalId", ENTERPRISE):
        assert hidden not in doc
    assert doc["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:User"]


def test_me_refuses_revoked_tokens_and_inactive_users_with_401_rfc6750_3(
    client: TestClient, deployment: Deployment
):
    key, user_id = _setup(client, deployment)
    tokens = code_flow_tokens(client, scope=ALL)
    bearer = _bearer(tokens["access_token"])
    assert client.get("/scim/v2/Me", headers=bearer).status_code == 200
    client.patch(
        f"/scim/v2/Users/{user_id}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
        headers=_bearer(key),
    ).raise_for_status()
    refused = client.get("/scim/v2/Me", headers=bearer)
    assert refused.status_code == 401
    assert refused.json()["schemas"] == [ERROR]
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert "revoked" in refused.json()["detail"]


def test_me_refuses_a_token_whose_user_is_inactive_even_if_not_revoked(
    client: TestClient, deployment: Deployment
):
    """The user is read on every call: a deactivation that (somehow) left a token off the
    revocation set still ends /Me."""
    _, user_id = _setup(client, deployment)
    bearer = _bearer(code_flow_tokens(client, scope=ALL)["access_token"])
    from ostiary.store.tables import users

    with deployment.db.begin() as conn:
        conn.execute(users.update().where(users.c.id == user_id).values(active=False))
    refused = client.get("/scim/v2/Me", headers=bearer)
    assert refused.status_code == 401 and "no longer active" in refused.json()["detail"]
    assert refused.headers["www-authenticate"].startswith("Bearer")


def test_me_refuses_garbage_keys_and_missing_tokens_with_401(
    client: TestClient, deployment: Deployment
):
    key, _ = _setup(client, deployment)
    for headers in ({}, _bearer(key), _bearer("a.b.c"), {"Authorization": "Basic eDp5"}):
        resp = client.get("/scim/v2/Me", headers=headers)
        assert resp.status_code == 401, (headers, resp.text)
        assert resp.json()["schemas"] == [ERROR]
        assert "www-authenticate" in resp.headers


def test_writes_to_me_are_403_after_the_token_is_checked(
    client: TestClient, deployment: Deployment
):
    """RFC 7644 3.11 lets a provider refuse /Me modifications: the record belongs to the
    provisioning source. A bad token is still a 401 first."""
    _setup(client, deployment)
    bearer = _bearer(code_flow_tokens(client, scope=ALL)["access_token"])
    body = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"nickName": "x"}}]}
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        resp = client.request(method, "/scim/v2/Me", headers=bearer, json=body)
        assert resp.status_code == 403, (method, resp.text)
        assert resp.json()["schemas"] == [ERROR]
        assert client.request(method, "/scim/v2/Me", json=body).status_code == 401
    assert client.get("/scim/v2/Me", headers=bearer).json().get("nickName") is None
