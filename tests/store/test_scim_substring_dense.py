"""Substring needles that match most of the directory (issue 3 point 10): on PostgreSQL,
when the planner expects far more than MATCH_FIRST_MAX matches, ``ScimSearch`` skips the
capped matched-first attempt and the general path (ordered page, exact count of the
narrow copy) answers at once. The choice is the planner's estimate; the answer must not
depend on it: pages, order and totalResults (RFC 7644 section 3.4.2.4, exact per decision
0004) are the in-memory evaluator's on both engines, whichever path runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event

from ostiary.scim.filter import bind, sort_ref
from ostiary.scim.filter_eval import matches
from ostiary.scim.filter_schema import USER
from ostiary.store.repositories import scim_search
from ostiary.store.repositories.scim_search import Query, ScimSearch
from tests.support.directory import seeded

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
N = 300
DENSE = 'userName co "@example"'  # every user but each 7th
FILTERS = [
    DENSE,
    'emails co "contoso"',  # every user with an address at contoso (most)
    'emails.value co "r1@cont"',  # across the "@": the head drives, strpos checks the rest
    'userName ew "@example.com"',
    'userName co "7@ex"',  # a tenth
    'userName co "nobody"',
]


def _user(i: int) -> tuple[str, dict[str, Any]]:
    domain = "other.org" if i % 7 == 0 else "example.com"
    name = f"User{i:04d}@{domain.title()}"
    emails = [{"value": f"u.ser{i}@Contoso.com"}] if i % 5 else [{"value": f"x{i}@elsewhere.net"}]
    if i % 11 == 0:
        emails.append({"value": f"second{i}@contoso.com"})  # two matching addresses
    return name, {"emails": emails} if i % 13 else {}


@pytest.fixture
def crowd(database_url: str) -> Any:
    db, docs = seeded(database_url, [(f"u-{i:04d}", *_user(i)) for i in range(N)])
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")  # what autovacuum gives a deployment
            conn.commit()
    yield db, docs
    db.dispose()


def _statements(conn: Any) -> list[str]:
    seen: list[str] = []
    event.listen(conn, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


@pytest.mark.parametrize("dense_from", [0, 10**9], ids=["dense", "capped"])
@pytest.mark.parametrize("text", FILTERS)
def test_the_dense_path_gives_the_capped_paths_answer(
    crowd: Any, monkeypatch: pytest.MonkeyPatch, dense_from: int, text: str
):
    """RFC 7644 sections 3.4.2.2-3.4.2.4: the same rows, order and totalResults whether
    the estimate sends the search to the general path (DENSE_FROM 0: any estimate is
    dense) or to the capped attempt (10**9: never dense)."""
    monkeypatch.setattr(scim_search, "DENSE_FROM", dense_from)
    db, docs = crowd
    node = bind(text, USER)
    want = sorted(i for i, doc in docs.items() if matches(node, doc))
    by_name = sorted(want, key=lambda i: (docs[i]["userName"].lower(), i), reverse=True)
    name = sort_ref(USER, "userName")
    with db.read() as conn:
        seen = _statements(conn)
        search = ScimSearch(conn, "User")

        def run(start: int, count: int, sort: Any = None) -> tuple[int, list[str]]:
            page = search.run(Query(node, sort, sort is not None, start, count))
            return page.total, [r.id for r in page.rows]

        assert run(1, 100) == (len(want), want[:100])
        assert run(2, 3) == (len(want), want[1:4])
        assert run(1, 0) == (len(want), [])
        assert run(len(want) + 5, 10) == (len(want), [])
        assert run(1, 50, name) == (len(want), by_name[:50])
        if conn.dialect.name != "postgresql":
            return  # SQLite has one path: the results above are the test
        capped = [s for s in seen if "matched AS MATERIALIZED" in s]
        assert any(s.startswith("EXPLAIN (FORMAT JSON)") for s in seen)
        assert bool(capped) == (dense_from != 0)


def test_the_planner_estimate_finds_the_dense_needles(crowd: Any, monkeypatch: pytest.MonkeyPatch):
    """With ANALYZE statistics a needle in most keys is dense and a rare one is not, so
    the rare ones keep their one-statement page (and a filter no narrow copy serves is
    never asked about)."""
    db, _docs = crowd
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the estimate is PostgreSQL's planner's")
    monkeypatch.setattr(scim_search, "DENSE_FROM", 100)  # a third of the directory
    with db.read() as conn:
        search = ScimSearch(conn, "User")
        assert search._dense(bind(DENSE, USER))
        assert search._dense(bind('emails co "contoso"', USER))
        assert not search._dense(bind('userName co "7@ex"', USER))
        assert not search._dense(bind('userName co "nobody"', USER))
        seen = _statements(conn)
        assert not search._dense(bind('userName sw "user"', USER))  # prefix B-tree, no copy
        assert seen == []
