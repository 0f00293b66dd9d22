"""GET /Users, /Groups and POST .search over HTTP (RFC 7644 sections 3.4.2, 3.4.3):
filtering, sorting, paging, projection, the ListResponse, and the real clients' shapes
(Entra's test-connection filter, Okta's count=100 paging, excludedAttributes=members)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.tables import group_members, groups
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
LIST = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
SEARCH = "urn:ietf:params:scim:api:messages:2.0:SearchRequest"
NAMES = ["ada", "Bob", "carol", "dave_x", "eve%", "frank"]


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


@pytest.fixture
def populated(client: TestClient, deployment: Deployment, clock: FrozenClock) -> dict[str, Any]:
    key = deployment.make_key().token
    ids = {}
    for i, name in enumerate(NAMES):
        body = {
            "schemas": [USER, ENT],
            "userName": f"{name}@example.com",
            "externalId": f"ext-{i}",
            "name": {"givenName": name.title(), "familyName": f"F{5 - i}"},
            "emails": [{"value": f"{name}@work.example", "type": "work", "primary": True}],
            "active": i % 2 == 0,
            ENT: {"employeeNumber": str(100 + i)},
        }
        resp = client.post("/scim/v2/Users", json=body, headers=_auth(key))
        assert resp.status_code == 201, resp.text
        ids[name] = resp.json()["id"]
        clock.advance(timedelta(minutes=1))
    now = datetime.now(UTC)
    with deployment.db.begin() as conn:
        conn.execute(
            insert(groups),
            [
                {
                    "id": gid,
                    "display_name": dn,
                    "display_name_key": dn.casefold(),
                    "doc": {},
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                    "external_id": None,
                }
                for gid, dn in (("g-1", "Admins"), ("g-2", "Staff"))
            ],
        )
        conn.execute(
            insert(group_members),
            [{"group_id": "g-1", "member_id": ids[n], "member_type": "User"} for n in NAMES[:3]],
        )
    return {"key": key, "ids": ids}


def _get(client: TestClient, key: str, path: str, **params: Any) -> Any:
    return client.get(path, params=params, headers=_auth(key))


def _names(resp: Any) -> list[str]:
    return [r["userName"].split("@")[0] for r in resp.json()["Resources"]]


def test_filter_eq_is_case_insensitive_on_user_name_and_returns_a_list_response(
    client: TestClient, populated: dict[str, Any]
):
    resp = _get(client, populated["key"], "/scim/v2/Users", filter='userName eq "BOB@EXAMPLE.COM"')
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/scim+json"
    body = resp.json()
    assert body["schemas"] == [LIST]
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (1, 1, 1)
    assert body["Resources"][0]["id"] == populated["ids"]["Bob"]
    assert body["Resources"][0]["groups"][0]["value"] == "g-1"


def test_entra_test_connection_filter_on_a_random_value_is_an_empty_200(
    client: TestClient, populated: dict[str, Any]
):
    """Entra ID probes with userName eq <random guid> and expects 200 + empty list."""
    resp = _get(client, populated["key"], "/scim/v2/Users", filter=f'userName eq "{uuid.uuid4()}"')
    assert resp.status_code == 200
    assert resp.json()["totalResults"] == 0 and resp.json()["Resources"] == []


@pytest.mark.parametrize(
    "text, names",
    [
        ('userName co "%"', ["eve%"]),  # a LIKE wildcard matches only itself
        ('userName co "_"', ["dave_x"]),
        ('externalId eq "ext-2"', ["carol"]),
        (f'{ENT}:employeeNumber ge "104"', ["eve%", "frank"]),
        ('emails[type eq "work" and value sw "CAROL@"]', ["carol"]),
        ('groups.display eq "admins" and not (name.givenName eq "ada")', ["Bob", "carol"]),
        ('active eq false and name.familyName lt "F3"', ["dave_x", "frank"]),
    ],
)
def test_filters_are_evaluated_in_the_database(
    client: TestClient, populated: dict[str, Any], text: str, names: list[str]
):
    resp = _get(client, populated["key"], "/scim/v2/Users", filter=text)
    assert resp.status_code == 200, resp.text
    assert sorted(_names(resp)) == sorted(names)


def test_meta_last_modified_compares_as_a_datetime(client: TestClient, populated: dict[str, Any]):
    everyone = _get(client, populated["key"], "/scim/v2/Users", sortBy="meta.created").json()
    third = everyone["Resources"][2]["meta"]["lastModified"]
    resp = _get(
        client, populated["key"], "/scim/v2/Users", filter=f'meta.lastModified gt "{third}"'
    )
    assert sorted(_names(resp)) == ["dave_x", "eve%", "frank"]


@pytest.mark.parametrize(
    "text", ['nosuch eq "x"', "active gt true", 'userName eq "x', 'password eq "p"']
)
def test_bad_filters_are_400_invalid_filter(
    client: TestClient, populated: dict[str, Any], text: str
):
    resp = _get(client, populated["key"], "/scim/v2/Users", filter=text)
    assert resp.status_code == 400
    assert resp.json()["scimType"] == "invalidFilter"


def test_sorting_ascending_descending_and_by_email(client: TestClient, populated: dict[str, Any]):
    key = populated["key"]
    asc = _names(_get(client, key, "/scim/v2/Users", sortBy="userName"))
    assert asc == sorted(asc, key=str.casefold)
    desc = _names(_get(client, key, "/scim/v2/Users", sortBy="userName", sortOrder="descending"))
    assert desc == list(reversed(asc))
    by_family = _names(_get(client, key, "/scim/v2/Users", sortBy="name.familyName"))
    assert by_family == list(reversed(NAMES))  # F5 .. F0
    assert _names(_get(client, key, "/scim/v2/Users", sortBy="emails")) == asc
    bad = _get(client, key, "/scim/v2/Users", sortBy="nosuch")
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidValue"


def test_paging_start_index_count_and_their_edge_values(
    client: TestClient, populated: dict[str, Any]
):
    """Section 3.4.2.4: 1-based; count=0 only counts; <1 startIndex is 1; negative count 0."""
    key = populated["key"]
    page = _get(client, key, "/scim/v2/Users", startIndex=3, count=2).json()
    assert (page["totalResults"], page["startIndex"], page["itemsPerPage"]) == (6, 3, 2)
    counted = _get(client, key, "/scim/v2/Users", count=0).json()
    assert counted["totalResults"] == 6 and counted["Resources"] == []
    assert _get(client, key, "/scim/v2/Users", count=-5).json()["itemsPerPage"] == 0
    assert _get(client, key, "/scim/v2/Users", startIndex=0).json()["startIndex"] == 1
    past = _get(client, key, "/scim/v2/Users", startIndex=50).json()
    assert past["totalResults"] == 6 and past["Resources"] == []
    for bad in ({"count": "many"}, {"startIndex": "1.5"}, {"sortOrder": "sideways"}):
        resp = _get(client, key, "/scim/v2/Users", **bad)
        assert resp.status_code == 400 and resp.json()["scimType"] == "invalidValue"


def test_okta_style_paging_is_stable_and_complete(client: TestClient, populated: dict[str, Any]):
    seen: list[str] = []
    start = 1
    while True:
        page = _get(client, populated["key"], "/scim/v2/Users", startIndex=start, count=4).json()
        seen += [r["id"] for r in page["Resources"]]
        start += page["itemsPerPage"]
        if start > page["totalResults"] or not page["Resources"]:
            break
    assert sorted(seen) == sorted(populated["ids"].values()) and len(seen) == len(set(seen))


def test_count_is_capped_at_max_results(
    deployment: Deployment, populated: dict[str, Any], tmp_path
):
    capped = deploy(deployment.settings.database_url, tmp_path, scim_max_results=4)
    app = create_app(capped.settings)
    with TestClient(app) as tc:
        page = _get(tc, populated["key"], "/scim/v2/Users", count=100).json()
    app.state.ctx.db.dispose()
    capped.db.dispose()
    assert page["itemsPerPage"] == 4 and page["totalResults"] == 6


def test_cursor_paging_walks_every_user_once(client: TestClient, populated: dict[str, Any]):
    """RFC 9865: cursor= starts a walk, nextCursor continues it, absent at the end."""
    key, seen, cursor = populated["key"], [], ""
    while cursor is not None:
        page = _get(client, key, "/scim/v2/Users", cursor=cursor, count=4, sortBy="userName").json()
        seen += _names_of(page)
        cursor = page.get("nextCursor")
    assert seen == sorted(seen, key=str.casefold) and len(seen) == 6
    bad = _get(client, key, "/scim/v2/Users", cursor="not-a-cursor!")
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidCursor"


def _names_of(page: dict[str, Any]) -> list[str]:
    return [r["userName"].split("@")[0] for r in page["Resources"]]


def test_attributes_and_excluded_attributes(client: TestClient, populated: dict[str, Any]):
    key = populated["key"]
    only = _get(client, key, "/scim/v2/Users", attributes="userName,name.givenName").json()
    assert set(only["Resources"][0]) == {"schemas", "id", "meta", "userName", "name"}
    assert set(only["Resources"][0]["name"]) == {"givenName"}
    without = _get(client, key, "/scim/v2/Users", excludedAttributes="emails,groups").json()
    assert all("emails" not in r and "groups" not in r for r in without["Resources"])


def test_post_search_and_its_validation(client: TestClient, populated: dict[str, Any]):
    key = populated["key"]
    body = {
        "schemas": [SEARCH],
        "filter": 'name.givenName sw "c" or name.givenName sw "d"',
        "sortBy": "userName",
        "attributes": ["userName"],
        "startIndex": 1,
        "count": 10,
    }
    resp = client.post("/scim/v2/Users/.search", json=body, headers=_auth(key))
    assert resp.status_code == 200
    assert _names(resp) == ["carol", "dave_x"]
    resp = client.post("/scim/v2/Users/.search", json={"filter": "x pr"}, headers=_auth(key))
    assert resp.status_code == 400 and resp.json()["scimType"] == "invalidValue"
    resp = client.post("/scim/v2/Users/.search", json=body | {"count": "ten"}, headers=_auth(key))
    assert resp.status_code == 400


def test_groups_list_filter_and_excluded_members(client: TestClient, populated: dict[str, Any]):
    key, ids = populated["key"], populated["ids"]
    resp = _get(client, key, "/scim/v2/Groups", filter=f'members.value eq "{ids["Bob"]}"')
    assert [g["displayName"] for g in resp.json()["Resources"]] == ["Admins"]
    assert len(resp.json()["Resources"][0]["members"]) == 3
    lean = _get(client, key, "/scim/v2/Groups", excludedAttributes="members").json()
    assert lean["totalResults"] == 2 and all("members" not in g for g in lean["Resources"])
    by_name = _get(client, key, "/scim/v2/Groups", filter='displayName eq "STAFF"').json()
    assert [g["id"] for g in by_name["Resources"]] == ["g-2"]


def test_root_search_spans_users_and_groups(client: TestClient, populated: dict[str, Any]):
    body = {"schemas": [SEARCH], "filter": 'displayName sw "adm" or userName sw "ada"'}
    resp = client.post("/scim/v2/.search", json=body, headers=_auth(populated["key"]))
    assert resp.status_code == 200, resp.text
    kinds = sorted(r["meta"]["resourceType"] for r in resp.json()["Resources"])
    assert kinds == ["Group", "User"]
    page = client.post(
        "/scim/v2/.search",
        json={"schemas": [SEARCH], "startIndex": 6, "count": 2},
        headers=_auth(populated["key"]),
    ).json()
    assert page["totalResults"] == 8
    assert [r["meta"]["resourceType"] for r in page["Resources"]] == ["User", "Group"]
    bad = client.post(
        "/scim/v2/.search",
        json={"schemas": [SEARCH], "filter": 'nosuch eq "x"'},
        headers=_auth(populated["key"]),
    )
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidFilter"


def test_listing_needs_the_read_scope(client: TestClient, deployment: Deployment):
    writer = deployment.make_key(["users:write"]).token
    assert _get(client, writer, "/scim/v2/Users").status_code == 403
    assert _get(client, writer, "/scim/v2/Groups").status_code == 403
    assert client.get("/scim/v2/Users").status_code == 401


def test_deep_start_index_pages_are_found_by_id_first_and_agree(
    client: TestClient, populated: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    """The late-row-lookup path (used for deep startIndex pages) returns the same pages."""
    from ostiary.store.repositories import scim_search

    key = populated["key"]
    shallow = [
        _names(_get(client, key, "/scim/v2/Users", sortBy="userName", startIndex=i, count=2))
        for i in (1, 3, 5)
    ]
    monkeypatch.setattr(scim_search, "LATE_LOOKUP_FROM", 1)
    deep = [
        _names(_get(client, key, "/scim/v2/Users", sortBy="userName", startIndex=i, count=2))
        for i in (1, 3, 5)
    ]
    assert deep == shallow and sum(len(p) for p in deep) == 6
    past = _get(client, key, "/scim/v2/Users", startIndex=9, count=2).json()
    assert past["totalResults"] == 6 and past["Resources"] == []


def test_search_request_field_types_and_root_sort(client: TestClient, populated: dict[str, Any]):
    """A SearchRequest with wrongly typed fields is a 400; a root search sorts each type by
    the attribute when it has it (RFC 7644 section 3.4.3)."""
    key = populated["key"]
    for bad in ({"attributes": 5}, {"filter": 7}, {"excludedAttributes": {"a": 1}}):
        resp = client.post(
            "/scim/v2/Users/.search", json={"schemas": [SEARCH], **bad}, headers=_auth(key)
        )
        assert resp.status_code == 400 and resp.json()["scimType"] == "invalidValue"
    resp = client.post(
        "/scim/v2/.search", json={"schemas": [SEARCH], "sortBy": "userName"}, headers=_auth(key)
    )
    assert resp.status_code == 200
    users = [r["userName"] for r in resp.json()["Resources"] if "userName" in r]
    assert users == sorted(users, key=str.casefold) and resp.json()["totalResults"] == 8


SLIM = "id,userName,externalId,active,meta.version"


def test_column_backed_attributes_list_the_same_documents(
    client: TestClient, populated: dict[str, Any], monkeypatch: pytest.MonkeyPatch
):
    """RFC 7644 s3.4.2.5: attributes naming only column-backed attributes are served from
    those columns (web/scim/slim_list.py); the documents are those the full render gives
    once projected, on every paging path (first pages, late row lookup, cursor)."""
    from ostiary.store.repositories import scim_search
    from ostiary.web.scim import slim_list

    key = populated["key"]
    unset = client.post(  # created without "active": the rendered user has none
        "/scim/v2/Users", json={"schemas": [USER], "userName": "noactive"}, headers=_auth(key)
    )
    assert unset.status_code == 201, unset.text

    def walk(**params: Any) -> list[Any]:
        pages = [
            _get(client, key, "/scim/v2/Users", startIndex=i, count=3, **params).json()
            for i in (1, 4, 7)
        ]
        cursor, seen = "", []
        while cursor is not None:
            page = _get(client, key, "/scim/v2/Users", cursor=cursor, count=3, **params).json()
            seen.append(page)
            cursor = page.get("nextCursor")
        return pages + seen

    for attributes in (SLIM, "userName", "ACTIVE,externalId"):
        lean = walk(attributes=attributes)
        monkeypatch.setattr(slim_list, "SLIM_KEYS", frozenset())  # the full render
        full = walk(attributes=attributes)
        monkeypatch.undo()
        assert lean == full
        monkeypatch.setattr(scim_search, "LATE_LOOKUP_FROM", 1)
        assert walk(attributes=attributes)[:3] == full[:3]
        monkeypatch.undo()
    # userName is returned "always" (RFC 7643 s4.1.1): there even when not named.
    assert all("userName" in r for r in walk(attributes="active")[0]["Resources"])
    docs = [r for page in walk(attributes=SLIM)[:3] for r in page["Resources"]]
    assert len(docs) == 7 and all(
        set(r) <= {"schemas", "id", "meta", "userName", "externalId", "active"} for r in docs
    )
    assert sum("active" not in r for r in docs) == 1
    assert all(r["meta"]["version"].startswith('W/"') for r in docs)
