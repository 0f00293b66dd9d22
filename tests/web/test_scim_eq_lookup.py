"""The ``attr eq "value"`` lookup (RFC 7644 section 3.4.2.2) through its fast path: a
filter bound without the parser, a prepared statement, and on SQLite no thread hand-off.
Each answer must be the one the general path gives (same resources, same totalResults,
same case rules: userName caseExact=false, externalId caseExact=true)."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from ostiary.scim.filter import _Binder, bind, is_simple_eq, parse
from ostiary.scim.filter_schema import GROUP, USER
from tests.support.deploy import Deployment

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


@pytest.fixture
def people(client: TestClient, deployment: Deployment) -> dict[str, Any]:
    key = deployment.make_key().token
    ids = []
    for name, ext in (("Ada@Example.com", "ext-A"), ("bob@example.com", "ext-A"), ("c@x", "e")):
        body = {"schemas": [CORE], "userName": name, "externalId": ext, "displayName": name}
        r = client.post("/scim/v2/Users", json=body, headers=_auth(key))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    return {"key": key, "ids": ids}


def _list(client: TestClient, key: str, flt: str, **params: Any) -> dict[str, Any]:
    r = client.get("/scim/v2/Users", params={"filter": flt, **params}, headers=_auth(key))
    assert r.status_code == 200, r.text
    return r.json()


def test_username_eq_ignores_case_section_3_4_2_2(client: TestClient, people: dict[str, Any]):
    body = _list(client, people["key"], 'userName eq "ADA@example.COM"')
    assert body["totalResults"] == 1 and body["itemsPerPage"] == 1
    assert [u["id"] for u in body["Resources"]] == [people["ids"][0]]
    assert body["Resources"][0]["userName"] == "Ada@Example.com"
    assert body["Resources"][0]["meta"]["resourceType"] == "User"


def test_external_id_eq_is_case_exact(client: TestClient, people: dict[str, Any]):
    assert _list(client, people["key"], 'externalId eq "EXT-A"')["totalResults"] == 0
    body = _list(client, people["key"], 'externalId eq "ext-A"')
    assert sorted(u["id"] for u in body["Resources"]) == sorted(people["ids"][:2])
    assert [u["id"] for u in body["Resources"]] == sorted(people["ids"][:2])  # id order


def test_full_page_still_counts_every_match_section_3_4_2_4(
    client: TestClient, people: dict[str, Any]
):
    """count=1 with two matches: the page is full, so totalResults comes from a count."""
    body = _list(client, people["key"], 'externalId eq "ext-A"', count=1)
    assert body["totalResults"] == 2 and body["itemsPerPage"] == 1


def test_no_match_is_an_empty_list(client: TestClient, people: dict[str, Any]):
    body = _list(client, people["key"], 'userName eq "nobody@example.com"')
    assert body == {
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
        "totalResults": 0,
        "startIndex": 1,
        "itemsPerPage": 0,
        "Resources": [],
    }


def test_unknown_attribute_is_still_invalid_filter(client: TestClient, people: dict[str, Any]):
    r = client.get("/scim/v2/Users", params={"filter": 'nope eq "x"'}, headers=_auth(people["key"]))
    assert r.status_code == 400 and r.json()["scimType"] == "invalidFilter"


def test_lookup_without_read_scope_is_refused(client: TestClient, deployment: Deployment):
    """The inline path authenticates like the threaded one: 403 without users:read."""
    key = deployment.make_key(["groups:read"]).token
    r = client.get("/scim/v2/Users", params={"filter": 'userName eq "x"'}, headers=_auth(key))
    assert r.status_code == 403


@pytest.mark.parametrize(
    "text",
    [
        'userName eq "Bjensen@Example.com"',
        'externalId eq "ext-1"',
        'id eq "abc"',
        'displayName eq "G"',
        'emails eq "a@b"',
        'title eq "x"',
        'meta.created eq "2026-01-01T00:00:00Z"',
        'active eq "true"',
        'userName eq ""',
        'username eq "é x"',
        'nope eq "x"',
        'password eq "x"',
        'members eq "x"',
    ],
)
@pytest.mark.parametrize("root", [False, True])
def test_fast_bind_equals_the_parser(text: str, root: bool):
    """Section 3.4.2.2 binding: the shortcut gives the parser's tree or the parser's error."""
    for schema in (USER, GROUP):
        try:
            slow: Any = _Binder(schema, root).node(parse(text))
        except Exception as exc:  # the error itself is compared
            slow = (type(exc), str(exc))
        try:
            fast: Any = bind(text, schema, unknown_is_false=root)
        except Exception as exc:
            fast = (type(exc), str(exc))
        assert fast == slow, (schema.name, text)


def test_only_the_plain_shape_takes_the_shortcut():
    assert is_simple_eq('userName eq "a@b"')
    for text in ('userName eq "a\\"b"', 'userName Eq "a"', ' userName eq "a"', 'a eq "x" or b pr'):
        assert not is_simple_eq(text)
