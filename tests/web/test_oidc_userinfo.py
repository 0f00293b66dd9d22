"""UserInfo (issue 6 point 6, OIDC Core 5.3 and 5.4): GET, POST with the header, POST with
the form body (RFC 6750 2.1/2.2); scopes map to the records SCIM writes; a deactivated
user's token is refused with 401 invalid_token."""

from __future__ import annotations

from starlette.testclient import TestClient

from tests.support.deploy import Deployment
from tests.support.rp import REDIRECT, code_for, register, scim_user

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def _tokens(client: TestClient, scope: str) -> dict:
    code, verifier = code_for(client, scope=scope)
    tok = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "rp1",
            "code_verifier": verifier,
        },
    )
    assert tok.status_code == 200, tok.text
    return tok.json()


def _setup(client: TestClient, dep: Deployment) -> tuple[str, str]:
    register(client.app, client_type="public")
    key = dep.make_key(
        ["users:read", "users:write", "users:deprovision", "groups:read", "groups:write"]
    ).token
    user_id = scim_user(
        client,
        key,
        name={"givenName": "Ada", "familyName": "Lovelace", "formatted": "Ada Lovelace"},
        emails=[{"value": "ada@work.example", "primary": True}, {"value": "ada@home.example"}],
        phoneNumbers=[{"value": "+44 20 7946 0000"}],
        addresses=[{"locality": "London", "country": "GB"}],
    )
    resp = client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "engineers", "members": [{"value": user_id}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 201, resp.text
    return user_id, key


def test_claims_follow_the_granted_scopes(client: TestClient, deployment: Deployment):
    """OIDC Core 5.4: profile, email, phone, address (and groups) release their claims."""
    user_id, _ = _setup(client, deployment)
    full = _tokens(client, "openid profile email phone address groups")["access_token"]
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {full}"})
    assert info.status_code == 200 and info.headers["cache-control"] == "no-store"
    body = info.json()
    assert body["sub"] == user_id and body["preferred_username"] == "ada@example.com"
    assert body["given_name"] == "Ada" and body["family_name"] == "Lovelace"
    assert body["email"] == "ada@work.example" and body["email_verified"] is False
    assert body["phone_number"] == "+44 20 7946 0000"
    assert body["address"] == {"locality": "London", "country": "GB"}
    assert body["groups"] == ["engineers"]
    narrow = _tokens(client, "openid email")["access_token"]
    body = client.get("/userinfo", headers={"Authorization": f"Bearer {narrow}"}).json()
    assert set(body) == {"sub", "email", "email_verified"}


def test_header_and_form_body_are_both_accepted(client: TestClient, deployment: Deployment):
    """RFC 6750 2.1 (header, GET and POST) and 2.2 (form body); never both at once."""
    _setup(client, deployment)
    token = _tokens(client, "openid email")["access_token"]
    post_header = client.post("/userinfo", headers={"Authorization": f"Bearer {token}"})
    post_body = client.post("/userinfo", data={"access_token": token})
    assert post_header.status_code == post_body.status_code == 200
    assert post_header.json() == post_body.json()
    both = client.post(
        "/userinfo", data={"access_token": token}, headers={"Authorization": f"Bearer {token}"}
    )
    assert both.status_code == 400
    none = client.get("/userinfo")
    assert none.status_code == 401 and "error=" not in none.headers["www-authenticate"]
    bad = client.get("/userinfo", headers={"Authorization": "Bearer a.b.c"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_deactivated_user_token_is_refused(client: TestClient, deployment: Deployment):
    """Issue 6 point 6 with the deprovisioning rule: 401 invalid_token at once."""
    user_id, key = _setup(client, deployment)
    token = _tokens(client, "openid profile")["access_token"]
    assert client.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    off = client.patch(
        f"/scim/v2/Users/{user_id}",
        headers={"Authorization": f"Bearer {key}"},
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "replace", "path": "active", "value": False}],
        },
    )
    assert off.status_code == 200, off.text
    resp = client.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_token"
