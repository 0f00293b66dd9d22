"""Discovery endpoints (RFC 7644 section 4; RFC 7643 sections 5-7)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from scim2_models import ResourceType, Schema, ServiceProviderConfig
from starlette.testclient import TestClient

from ostiary.web.app import create_app
from tests.support.deploy import deploy
from tests.web.scim_support import USER, auth

URN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
EXTENSION = {
    "id": URN,
    "name": "AcmeUser",
    "resourceType": "User",
    "attributes": [
        {"name": "badge", "type": "integer"},
        {"name": "clearance", "type": "string", "canonicalValues": ["low", "high"]},
        {"name": "hiredOn", "type": "dateTime", "mutability": "immutable"},
    ],
}


@pytest.fixture
def acme(sqlite_url: str, tmp_path: Path, clock) -> Iterator[tuple[TestClient, str]]:  # type: ignore[no-untyped-def]
    dep = deploy(
        sqlite_url,
        tmp_path,
        scim_extensions=json.dumps([EXTENSION]),
        scim_bulk_max_operations=7,
        scim_max_results=55,
    )
    key = dep.make_key(["users:read", "users:write"]).token
    app = create_app(dep.settings, clock=clock)
    with TestClient(app, base_url="http://testserver") as tc:
        yield tc, key
    app.state.ctx.db.dispose()
    dep.db.dispose()


def test_service_provider_config_is_truthful_and_public(acme):  # type: ignore[no-untyped-def]
    """Section 4: no authentication needed; limits come from the settings."""
    client, _ = acme
    resp = client.get("/scim/v2/ServiceProviderConfig")
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/scim+json"
    spc = ServiceProviderConfig.model_validate(resp.json())
    assert spc.patch.supported and spc.bulk.supported and spc.etag.supported
    assert spc.bulk.max_operations == 7 and spc.filter.max_results == 55
    assert spc.change_password.supported and spc.sort.supported
    assert spc.authentication_schemes[0].type == "oauthbearertoken"
    # RFC 7644 3.11: /Me takes a user's OIDC access token, advertised as a second scheme.
    assert "/Me" in spc.authentication_schemes[1].description


def test_resource_types_and_schemas_list_the_custom_extension(acme):  # type: ignore[no-untyped-def]
    client, _ = acme
    types = client.get("/scim/v2/ResourceTypes").json()
    assert types["totalResults"] == 2
    user_type = ResourceType.model_validate(client.get("/scim/v2/ResourceTypes/User").json())
    assert {e.schema_ for e in user_type.schema_extensions} == {
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User",
        URN,
    }
    schemas = client.get("/scim/v2/Schemas").json()
    assert URN in {s["id"] for s in schemas["Resources"]}
    one = Schema.model_validate(client.get(f"/scim/v2/Schemas/{URN}").json())
    assert [a.name for a in one.attributes] == ["badge", "clearance", "hiredOn"]
    assert client.get("/scim/v2/Schemas/urn:nope").status_code == 404
    assert client.get("/scim/v2/ResourceTypes/Device").status_code == 404


def test_the_custom_extension_is_validated_on_write(acme):  # type: ignore[no-untyped-def]
    client, key = acme
    body = {"schemas": [USER, URN], "userName": "a", URN: {"badge": 3, "clearance": "high"}}
    created = client.post("/scim/v2/Users", json=body, headers=auth(key))
    assert created.status_code == 201 and created.json()[URN] == {"badge": 3, "clearance": "high"}
    assert URN in created.json()["schemas"]
    bad = {**body, "userName": "b", URN: {"clearance": "medium"}}
    resp = client.post("/scim/v2/Users", json=bad, headers=auth(key))
    assert resp.status_code == 400 and resp.json()["scimType"] == "invalidValue"


@pytest.mark.parametrize("path", ["ServiceProviderConfig", "ResourceTypes", "Schemas"])
def test_a_filter_on_discovery_is_403(acme, path: str):  # type: ignore[no-untyped-def]
    """Section 4: discovery endpoints do not support filtering (403)."""
    client, _ = acme
    resp = client.get(f"/scim/v2/{path}", params={"filter": 'id eq "x"'})
    assert resp.status_code == 403
    assert resp.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_writes_to_discovery_are_405(acme):  # type: ignore[no-untyped-def]
    client, _ = acme
    assert client.post("/scim/v2/Schemas", json={}).status_code == 405


def test_changing_an_immutable_value_is_400_mutability(acme):  # type: ignore[no-untyped-def]
    """RFC 7643 section 2.2: immutable may be set once, then never changed."""
    client, key = acme
    body = {"schemas": [USER, URN], "userName": "i", URN: {"hiredOn": "2024-01-01T00:00:00Z"}}
    user = client.post("/scim/v2/Users", json=body, headers=auth(key)).json()
    url = f"/scim/v2/Users/{user['id']}"
    same = client.put(url, json=body | {"displayName": "I"}, headers=auth(key))
    assert same.status_code == 200
    changed = {**body, URN: {"hiredOn": "2025-01-01T00:00:00Z"}}
    resp = client.put(url, json=changed, headers=auth(key))
    assert resp.status_code == 400 and resp.json()["scimType"] == "mutability"
    op = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [
            {"op": "replace", "path": f"{URN}:hiredOn", "value": "2025-01-01T00:00:00Z"}
        ],
    }
    resp = client.patch(url, json=op, headers=auth(key))
    assert resp.status_code == 400 and resp.json()["scimType"] == "mutability"


def test_a_bad_extension_declaration_stops_start_up(sqlite_url: str, tmp_path: Path):
    from ostiary.core.errors import ConfigError

    dep = deploy(sqlite_url, tmp_path, scim_extensions='[{"id": "nope"}]')
    try:
        with pytest.raises(ConfigError, match="scim_extensions"):
            create_app(dep.settings)
    finally:
        dep.db.dispose()
