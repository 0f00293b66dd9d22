"""The ``GET /Users?filter=attr eq "value"`` fast path (``web/scim/fast_lookup.py``, raw
DBAPI statement in ``store/repositories/scim_lookup.py``) answers exactly what the
general search answers (RFC 7644 sections 3.4.2.2 and 3.4.2.4), with the same checks
(section 2: authentication; our key rate limits and scopes), the same error format
(section 3.12), the request id echoed, and no stale data after a write.

``?filter=X`` takes the fast path; ``?filter=X&startIndex=1`` (the same query to RFC 7644)
takes the router and SQLAlchemy, so the two answers can be compared byte for byte."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from ostiary.scim.filter import bind
from ostiary.scim.filter_schema import USER
from ostiary.store.repositories.scim_lookup import lookup_users
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy
from tests.web.scim_support import ALL_SCOPES, ENTERPRISE, GROUP, auth, patch, user_body


def _fast_and_general(client: TestClient, key: str, flt: str) -> tuple[httpx.Response, ...]:
    fast = client.get("/scim/v2/Users", params={"filter": flt}, headers=auth(key))
    general = client.get(
        "/scim/v2/Users", params={"filter": flt, "startIndex": "1"}, headers=auth(key)
    )
    return fast, general


def _same(fast: httpx.Response, general: httpx.Response) -> None:
    assert fast.status_code == general.status_code
    assert fast.content == general.content
    strip = {"x-request-id", "date"}
    assert [(k, v) for k, v in fast.headers.items() if k not in strip] == [
        (k, v) for k, v in general.headers.items() if k not in strip
    ]


@pytest.fixture
def directory(client: TestClient, deployment: Deployment) -> dict[str, Any]:
    key = deployment.make_key(ALL_SCOPES).token
    boss = client.post("/scim/v2/Users", json=user_body("boss@example.com"), headers=auth(key))
    body = user_body(
        "Ada@Example.com",
        externalId="ext-1",
        active=False,
        password="correct horse battery staple",
        phoneNumbers=[{"value": "+44 20 1234", "type": "work"}],
        **{
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            ENTERPRISE: {"employeeNumber": "42", "manager": {"value": boss.json()["id"]}},
        },
    )
    ada = client.post("/scim/v2/Users", json=body, headers=auth(key))
    assert ada.status_code == 201, ada.text
    uid = ada.json()["id"]
    for name in ("Zeta", "Alpha"):
        group = {"schemas": [GROUP], "displayName": name, "members": [{"value": uid}]}
        r = client.post("/scim/v2/Groups", json=group, headers=auth(key))
        assert r.status_code == 201, r.text
    return {"key": key, "id": uid}


@pytest.mark.parametrize(
    "flt",
    [
        'userName eq "ada@example.com"',  # caseExact false (RFC 7643 section 4.1.1)
        'externalId eq "ext-1"',
        'externalId eq "EXT-1"',  # caseExact true: no match
        'userName eq "nobody@example.com"',
        'displayName eq "x"',
        'nope eq "x"',  # 400 invalidFilter (section 3.4.2.2)
        'emails eq "Ada@Example.com"',  # not a column: the fast path declines, same answer
    ],
)
def test_fast_answer_is_the_general_answer_section_3_4_2(
    client: TestClient, directory: dict[str, Any], flt: str
):
    fast, general = _fast_and_general(client, directory["key"], flt)
    _same(fast, general)


def test_the_resource_is_whole_section_3_4_2(client: TestClient, directory: dict[str, Any]):
    lookups = client.app.state.ctx.db.lookups  # type: ignore[attr-defined]
    assert lookups.opened == 0
    fast, _ = _fast_and_general(client, directory["key"], 'userName eq "ADA@example.com"')
    assert lookups.opened == 1  # the raw statement ran (the general path uses the pool)
    (user,) = fast.json()["Resources"]
    assert user["id"] == directory["id"] and user["active"] is False
    assert "password" not in user  # returned "never" (RFC 7643 section 4.1.1)
    assert user[ENTERPRISE]["manager"]["$ref"].endswith(user[ENTERPRISE]["manager"]["value"])
    # Direct memberships in group id order (UUIDv7 ids: the order they were created).
    assert [g["display"] for g in user["groups"]] == ["Zeta", "Alpha"]
    assert user["meta"]["created"].endswith("Z")
    assert fast.headers["content-type"] == "application/scim+json"


def test_errors_are_the_endpoints_section_3_12(client: TestClient, directory: dict[str, Any]):
    flt = {"filter": 'userName eq "ada@example.com"'}
    for headers in ({}, {"Authorization": "Bearer ost_pk_nonsense"}):
        fast = client.get("/scim/v2/Users", params=flt, headers=headers)
        general = client.get("/scim/v2/Users", params={**flt, "startIndex": "1"}, headers=headers)
        assert fast.status_code == 401
        _same(fast, general)
        assert fast.headers["www-authenticate"].startswith("Bearer")


def test_scope_is_checked_section_2(
    client: TestClient, deployment: Deployment, directory: dict[str, Any]
):
    key = deployment.make_key(["groups:read"]).token
    fast, general = _fast_and_general(client, key, 'userName eq "ada@example.com"')
    assert fast.status_code == 403
    _same(fast, general)


def test_request_id_and_metrics_are_kept(client: TestClient, directory: dict[str, Any]):
    r = client.get(
        "/scim/v2/Users",
        params={"filter": 'userName eq "ada@example.com"'},
        headers=auth(directory["key"], **{"X-Request-ID": "trace-123"}),
    )
    assert r.status_code == 200 and r.headers["x-request-id"] == "trace-123"
    scrape = client.get("/metrics").text
    line = 'ostiary_http_requests_total{method="GET",route="/scim/v2/Users",status="200"}'
    assert line in scrape


def test_a_write_is_seen_at_once(client: TestClient, directory: dict[str, Any]):
    """No cache: the next lookup reads the committed row and memberships."""
    key, uid = directory["key"], directory["id"]
    op = {"op": "replace", "path": "externalId", "value": "ext-2"}
    assert client.patch(f"/scim/v2/Users/{uid}", json=patch(op), headers=auth(key)).is_success
    fast, general = _fast_and_general(client, key, 'externalId eq "ext-2"')
    assert [u["id"] for u in fast.json()["Resources"]] == [uid]
    _same(fast, general)
    assert client.delete(f"/scim/v2/Users/{uid}", headers=auth(key)).status_code == 204
    fast, _ = _fast_and_general(client, key, 'externalId eq "ext-2"')
    assert fast.json()["totalResults"] == 0


def test_a_full_page_falls_back_to_a_count(
    deployment: Deployment, client: TestClient, directory: dict[str, Any]
):
    """Section 3.4.2.4: totalResults is every match, not the page; the raw lookup hands a
    full page back to the general search, which counts."""
    node = bind('externalId eq "ext-1"', USER)
    assert lookup_users(deployment.db.lookups, node, 1) is None
    found = lookup_users(deployment.db.lookups, node, 2)
    assert found is not None and [u.id for u, _ in found] == [directory["id"]]


def test_rate_limit_applies(database_url: str, tmp_path: Path):
    """The per-key limit (429 with Retry-After, RFC 6585 section 4) holds on this path."""
    dep = deploy(database_url, tmp_path, key_rate_per_second=0.001, key_rate_burst=2)
    app = create_app(dep.settings)
    key = dep.make_key().token
    try:
        with TestClient(app, base_url="http://testserver") as tc:
            flt = {"filter": 'userName eq "x@example.com"'}
            codes = [tc.get("/scim/v2/Users", params=flt, headers=auth(key)) for _ in range(3)]
            assert [r.status_code for r in codes] == [200, 200, 429]
            assert codes[2].headers["retry-after"]
            assert codes[2].json()["status"] == "429"
    finally:
        app.state.ctx.db.dispose()
        dep.db.dispose()


def test_a_dropped_connection_falls_back(client: TestClient, directory: dict[str, Any]):
    """A raw connection the server closed (restart, idle timeout) costs no error: it is
    discarded, the general path answers, and the next lookup opens a fresh one."""
    lookups = client.app.state.ctx.db.lookups  # type: ignore[attr-defined]
    flt = 'userName eq "ada@example.com"'
    _fast, general = _fast_and_general(client, directory["key"], flt)
    assert lookups.opened == 1
    lookups._free[0].close()
    again, _ = _fast_and_general(client, directory["key"], flt)
    _same(again, general)
    assert lookups.opened == 0
    _fast_and_general(client, directory["key"], flt)
    assert lookups.opened == 1


@pytest.mark.parametrize(
    "query",
    [
        "filter=userName+eq+%22a%40b%22",
        "filter=userName%20eq%20%22caf%C3%A9%22",
        'filter=userName eq "x"',
        "filter=userName+eq+%22%FF%22",
        "filter=",
        "filter=a=b",
    ],
)
def test_query_is_decoded_as_starlette_decodes_it_section_3_4_2(query: str):
    from starlette.datastructures import QueryParams

    from ostiary.web.scim.fast_lookup import _filter_only

    assert _filter_only(query.encode("latin-1")) == QueryParams(query)["filter"]


def test_other_parameters_take_the_general_path():
    from ostiary.web.scim.fast_lookup import _filter_only

    assert _filter_only(b"filter=x&count=1") is None
    assert _filter_only(b"Filter=x") is None
    assert _filter_only(b"count=1") is None
