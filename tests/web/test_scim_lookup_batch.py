"""Concurrent ``GET /Users?filter=attr eq "value"`` lookups answered together
(``web/scim/fast_lookup._Coalescer``, ``store/repositories/scim_lookup_batch``): on
PostgreSQL the lookups in flight share one thread hand-off and one statement per
attribute, and each must still get exactly the answer it would get alone (RFC 7644
section 3.4.2.2 filtering: userName caseExact false, externalId caseExact true per RFC
7643 sections 4.1.1 and 3.1; section 3.4.2.4 paging: totalResults counts every match,
startIndex, itemsPerPage; section 3.4.2.5 attributes; section 3.12 errors; section 2
authentication).

Every concurrent answer is compared byte for byte with the general search's answer to the
same query (``&startIndex=1`` takes the router), on SQLite (where lookups run one by one
on the event loop) and PostgreSQL (where they are batched).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from starlette.testclient import TestClient

from ostiary.scim.filter import bind
from ostiary.scim.filter_schema import USER
from ostiary.store.repositories.scim_lookup import lookup_users
from ostiary.store.repositories.scim_lookup_batch import lookup_batch
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy
from tests.web.scim_support import ALL_SCOPES, GROUP, auth, user_body
from tests.web.test_scim_lookup_fast import _same

COUNT = 3  # the default page size here: three matches make a full page


@pytest.fixture
def small_pages(database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    # Each test sends over a hundred requests with one key from one address: limits
    # high enough that the rate limiter (tested elsewhere) never answers for the lookups.
    limits = {
        f"{who}_rate_{kind}": 100_000 for who in ("key", "ip") for kind in ("per_second", "burst")
    }
    dep = deploy(database_url, tmp_path, scim_default_count=COUNT, **limits)
    yield dep
    dep.db.dispose()


@pytest.fixture
def served(small_pages: Deployment) -> Iterator[tuple[TestClient, str]]:
    yield from _serve(small_pages)


def _serve(dep: Deployment) -> Iterator[tuple[TestClient, str]]:
    app = create_app(dep.settings)
    key = dep.make_key(ALL_SCOPES).token
    with TestClient(app, base_url="http://testserver") as tc:
        _directory(tc, key)
        yield tc, key
    app.state.ctx.db.dispose()


def _directory(client: TestClient, key: str) -> None:
    """Users with unique userNames, an externalId two users share, one three share (a full
    page at COUNT), case variants, and group memberships."""
    rows = [
        ("Ada@Example.com", "ext-1", "Ada"),
        ("bob@example.com", "dup", "Bob"),
        ("carol@example.com", "dup", "Carol"),
        ("dan@example.com", "trio", "Dan"),
        ("eve@example.com", "trio", "Eve"),
        ("fay@example.com", "trio", "Fay"),
        ("Straße@example.com", "EXT-1", "Gus"),
    ]
    ids = []
    for name, ext, display in rows:
        body = user_body(name, externalId=ext, displayName=display)
        r = client.post("/scim/v2/Users", json=body, headers=auth(key))
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    for name, members in (("Zeta", ids[:3]), ("Alpha", ids[1:2])):
        group = {
            "schemas": [GROUP],
            "displayName": name,
            "members": [{"value": m} for m in members],
        }
        assert client.post("/scim/v2/Groups", json=group, headers=auth(key)).status_code == 201


FILTERS = [
    'userName eq "ada@example.com"',
    'userName eq "ADA@EXAMPLE.COM"',  # caseExact false: the same user
    'userName eq "Ada@Example.com"',
    'userName eq "strasse@example.com"',  # str.casefold, as the general path folds
    'userName eq "nobody@example.com"',
    'externalId eq "ext-1"',
    'externalId eq "EXT-1"',  # caseExact true: the other user
    'externalId eq "Ext-1"',  # no match
    'externalId eq "dup"',  # two users, in id order
    'externalId eq "trio"',  # a full page: totalResults counted by the general path
    'externalId eq "none"',
    'displayName eq "BOB"',
    'emails eq "bob@example.com"',  # not a column: the general path
    'nope eq "x"',  # 400 invalidFilter
]


def _concurrently(app: Any, queries: list[tuple[str, str]]) -> list[httpx.Response]:
    """Every (query string, bearer) at once on one event loop, so lookups can gather."""

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            gets = (c.get(f"/scim/v2/Users?{q}", headers=auth(k)) for q, k in queries)
            return list(await asyncio.gather(*gets))

    return asyncio.run(go())


def test_concurrent_lookups_answer_as_alone_section_3_4_2(served: tuple[TestClient, str]):
    client, key = served
    queries = [(urlencode({"filter": f}), key) for f in FILTERS] * 4
    # In the same batches: a bad key (401), and lookups with parameters (the router).
    queries.insert(5, (urlencode({"filter": FILTERS[0]}), "ost_pk_nonsense"))
    queries.insert(9, (urlencode({"filter": FILTERS[0], "attributes": "userName"}), key))
    queries.insert(13, (urlencode({"filter": FILTERS[8], "excludedAttributes": "groups"}), key))
    replies = _concurrently(client.app, queries)
    for (query, bearer), fast in zip(queries, replies, strict=True):
        general = client.get(f"/scim/v2/Users?{query}&startIndex=1", headers=auth(bearer))
        _same(fast, general)
    by_query = {q: r.json() for (q, _), r in zip(queries, replies, strict=True)}
    dup = by_query[urlencode({"filter": 'externalId eq "dup"'})]
    assert [u["userName"] for u in dup["Resources"]] == ["bob@example.com", "carol@example.com"]
    assert [g["display"] for g in dup["Resources"][0]["groups"]] == ["Zeta", "Alpha"]
    trio = by_query[urlencode({"filter": 'externalId eq "trio"'})]
    assert trio["totalResults"] == 3 and trio["itemsPerPage"] == 3
    upper = by_query[urlencode({"filter": 'externalId eq "EXT-1"'})]
    assert [u["userName"] for u in upper["Resources"]] == ["Straße@example.com"]


@pytest.mark.postgres
def test_lookups_in_flight_share_batches(pg_served: tuple[TestClient, str]):
    """On PostgreSQL 60 lookups sent at once take far fewer than 60 thread hand-offs, and
    a lookup alone starts its batch at once (no timer)."""
    client, key = pg_served
    gate = client.app.state.scim_lookups  # type: ignore[attr-defined]
    before = gate.batches
    replies = _concurrently(
        client.app, [(urlencode({"filter": FILTERS[i % 12]}), key) for i in range(60)]
    )
    assert all(r.status_code == 200 for r in replies)
    assert 1 <= gate.batches - before < 30
    before = gate.batches
    alone = _concurrently(client.app, [(urlencode({"filter": FILTERS[0]}), key)])
    assert alone[0].json()["totalResults"] == 1 and gate.batches - before == 1


@pytest.fixture
def pg_served(pg_deployment: Deployment) -> Iterator[tuple[TestClient, str]]:
    yield from _serve(pg_deployment)


def test_batch_is_each_lookup_alone(served: tuple[TestClient, str], small_pages: Deployment):
    """The store call itself: per node, what ``lookup_users`` returns for it alone
    (None for a full page, a shape it does not take, or an attribute without a column)."""
    del served  # the directory
    nodes = [bind(f, USER) for f in FILTERS[:-1]] + [bind('meta.resourceType eq "User"', USER)]
    conns = small_pages.db.lookups
    together = lookup_batch(conns, nodes, COUNT)
    alone = [lookup_users(conns, n, COUNT) for n in nodes]
    assert together == alone
    assert together[FILTERS.index('externalId eq "trio"')] is None
    assert lookup_batch(conns, nodes, 0) == [None] * len(nodes)


@pytest.mark.postgres
def test_a_failed_batch_falls_back(pg_served: tuple[TestClient, str]):
    """A batch whose connection the server dropped costs no error: its lookups get None
    and the general path answers them; the next batch opens a fresh connection."""
    client, key = pg_served
    lookups = client.app.state.ctx.db.lookups  # type: ignore[attr-defined]
    queries = [(urlencode({"filter": f}), key) for f in FILTERS[:6]]
    first = _concurrently(client.app, queries)
    assert lookups.opened == 1
    dropped = lookups._free[0]
    dropped.close()
    again = _concurrently(client.app, queries)
    for a, b in zip(first, again, strict=True):
        _same(a, b)
    # Discarded; a later batch of the same run may have opened a fresh one.
    assert dropped not in lookups._all and lookups.opened <= 1
