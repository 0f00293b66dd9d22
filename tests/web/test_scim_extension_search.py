"""Over HTTP: a custom extension declared in OSTIARY_SCIM_EXTENSIONS is filterable
(RFC 7644 section 3.4.2.2, URN-qualified paths), sortable (section 3.4.2.3) and
projected (sections 3.4.2.5 and 3.9, its ``returned`` honoured), on both engines."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ostiary.web.app import create_app
from tests.support.deploy import deploy
from tests.web.scim_support import ALL_SCOPES, USER, auth

URN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
EXTENSION = {
    "id": URN,
    "name": "AcmeUser",
    "resourceType": "User",
    "attributes": [
        {"name": "badge", "type": "integer"},
        {"name": "site", "type": "complex", "subAttributes": [{"name": "city"}]},
        {"name": "hiredOn", "type": "dateTime"},
        {"name": "pin", "type": "string", "returned": "request"},
    ],
}


@pytest.fixture
def acme(database_url: str, tmp_path: Path, clock) -> Iterator[tuple[TestClient, str]]:  # type: ignore[no-untyped-def]
    dep = deploy(database_url, tmp_path, scim_extensions=json.dumps([EXTENSION]))
    key = dep.make_key(ALL_SCOPES).token
    app = create_app(dep.settings, clock=clock)
    with TestClient(app, base_url="http://testserver") as tc:
        for name, badge, city in [("ada", 7, "Paris"), ("bob", 3, "oslo"), ("eve", 12, "PARIS")]:
            body = {
                "schemas": [USER, URN],
                "userName": name,
                URN: {"badge": badge, "site": {"city": city}, "pin": f"{badge}{badge}"},
            }
            assert tc.post("/scim/v2/Users", json=body, headers=auth(key)).status_code == 201
        tc.post("/scim/v2/Users", json={"schemas": [USER], "userName": "zed"}, headers=auth(key))
        yield tc, key
    app.state.ctx.db.dispose()
    dep.db.dispose()


def _names(resp) -> list[str]:  # type: ignore[no-untyped-def]
    assert resp.status_code == 200, resp.text
    return [r["userName"] for r in resp.json()["Resources"]]


def test_filter_on_custom_extension_attributes(acme):  # type: ignore[no-untyped-def]
    client, key = acme
    get = lambda f: client.get("/scim/v2/Users", params={"filter": f}, headers=auth(key))  # noqa: E731
    assert _names(get(f"{URN}:badge gt 5")) == ["ada", "eve"]
    assert _names(get(f'{URN}:site.city eq "paris"')) == ["ada", "eve"]  # caseExact false
    assert _names(get(f"not ({URN}:badge pr)")) == ["zed"]
    body = {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
        "filter": f'{URN}:badge le 7 and {URN}:site.city sw "O"',
    }
    assert _names(client.post("/scim/v2/Users/.search", json=body, headers=auth(key))) == ["bob"]


def test_sort_by_a_custom_extension_attribute(acme):  # type: ignore[no-untyped-def]
    client, key = acme
    params = {"sortBy": f"{URN}:badge", "sortOrder": "descending"}
    # Descending puts unassigned values first (section 3.4.2.3).
    assert _names(client.get("/scim/v2/Users", params=params, headers=auth(key))) == [
        "zed",
        "eve",
        "ada",
        "bob",
    ]


def test_uncomparable_or_misused_extension_filters_are_400(acme):  # type: ignore[no-untyped-def]
    client, key = acme
    for text in (f'{URN}:hiredOn gt "2026-01-01T00:00:00Z"', f'{URN}:badge co "1"'):
        resp = client.get("/scim/v2/Users", params={"filter": text}, headers=auth(key))
        assert resp.status_code == 400, text
        assert resp.json()["scimType"] == "invalidFilter"


def test_returned_request_extension_attribute_is_projected(acme):  # type: ignore[no-untyped-def]
    """RFC 7643 section 7 returned "request": only when ``attributes`` names it, on
    reads and writes alike."""
    client, key = acme
    listed = client.get("/scim/v2/Users", params={"filter": 'userName eq "ada"'}, headers=auth(key))
    ada = listed.json()["Resources"][0]
    assert "pin" not in ada[URN] and ada[URN]["badge"] == 7
    asked = client.get(f"{ada['meta']['location']}?attributes={URN}:pin", headers=auth(key))
    assert asked.json()[URN] == {"pin": "77"}
    body = {"schemas": [USER, URN], "userName": "ada", URN: {"pin": "99"}}
    put = client.put(ada["meta"]["location"], json=body, headers=auth(key))
    assert put.status_code == 200 and URN not in put.json()  # its only attribute is "request"
    assert URN not in put.json()["schemas"]
