"""``co``/``ew`` needles holding one ``@`` on the narrow copies (issue 3 point 10;
migration 0023; ``store.local_suffix``). RFC 7644 section 3.4.2.2 (``co``, ``ew``;
userName and emails.value are caseExact=false) and 3.4.2.4 (totalResults is exact,
decision 0004): the reversed local-part range plus the other keys' trigram read select
exactly the in-memory evaluator's users on both engines (SQLite keeps its own path), the
values stay bound parameters, and on PostgreSQL the count is an index-only range scan."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlalchemy.dialects import postgresql

from ostiary.scim.filter import bind
from ostiary.scim.filter_eval import matches
from ostiary.scim.filter_schema import USER
from ostiary.store import local_suffix
from ostiary.store.db import Database
from ostiary.store.repositories.scim_search import Query, ScimSearch
from ostiary.store.scim_query import Translator
from tests.support.directory import address_book, seeded

# Keys at the edges of "one @ in the key: the needle's @ is the key's": several "@" (a
# needle may use any of them), several addresses (any address's "@"), no "@", an empty
# local part or domain, a local part that is a suffix of another, casefolding (ß -> ss),
# LIKE wildcards and a backslash in the local part, a key that is the needle itself.
PEOPLE: list[tuple[str, str, list[str]]] = [
    ("u-01", "Ada49@Example.com", ["ada49@mail.example"]),
    ("u-02", "x49@example.com", ["Grace73@Mail.Example", "g.hopper49@navy.example"]),
    ("u-03", "plain49example", []),
    ("u-04", '"a49@b"@example.org', ["x@"]),
    ("u-05", "example.com@49@other.org", ["@example.com"]),
    ("u-06", "STRASSE@Straße.de", ["weiß@straße.de", "white@strasse.de"]),
    ("u-07", "j_s%49@kernel.example", ["j\\s49@example.com"]),
    ("u-08", "149@example.co", ["73@mail"]),
    ("u-09", "x@", ["plain"]),
    ("u-10", "@example.com", ["ex@mple.com"]),
]
NEEDLES = [
    "49@example",
    "49@EXAMPLE.COM",
    "9@e",
    "a49@",
    "49@other.org",
    "com@49",
    "b\\u0022@example",  # '"' (a JSON escape in the filter)
    "sse@straße",
    "ss@strasse.de",
    "_s%49@k",
    "\\\\s49@exa",
    "73@mail",
    "x@",
    "@example.com",
    "zz@zz",
]


@pytest.fixture
def directory(database_url: str) -> Any:
    db, docs = seeded(database_url, address_book(PEOPLE))
    yield db, docs
    db.dispose()


def _search(db: Database, filter_text: str, **kw: Any) -> tuple[int, list[str]]:
    with db.read() as conn:
        page = ScimSearch(conn, "User").run(Query(filter=bind(filter_text, USER), **kw))
        return page.total, [r.id for r in page.rows]


def _want(docs: dict[str, Any], filter_text: str) -> list[str]:
    node = bind(filter_text, USER)
    return sorted(i for i, doc in docs.items() if matches(node, doc))


@pytest.mark.parametrize("op", ["co", "ew"])
@pytest.mark.parametrize("attr", ["userName", "emails", "emails.value", "emails[value]"])
@pytest.mark.parametrize("needle", NEEDLES)
def test_at_needles_select_what_the_evaluator_selects(
    directory: Any, attr: str, op: str, needle: str
):
    """Each needle through the page and the count alone (``emails ew`` is served by the
    address rows, not the copy: compared all the same)."""
    db, docs = directory
    shape = 'emails[value {op} "{needle}"]' if attr == "emails[value]" else '{attr} {op} "{needle}"'
    filter_text = shape.format(attr=attr, op=op, needle=needle)
    want = _want(docs, filter_text)
    assert _search(db, filter_text) == (len(want), want), filter_text
    assert _search(db, filter_text, count=0)[0] == len(want), filter_text  # the count alone


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    person=st.sampled_from(PEOPLE),
    start=st.integers(min_value=0, max_value=40),
    length=st.integers(min_value=2, max_value=12),
    op=st.sampled_from(["co", "ew"]),
    attr=st.sampled_from(["userName", "emails"]),
)
def test_any_piece_of_a_key_across_its_at_selects_exactly(
    directory: Any, person: tuple[str, str, list[str]], start: int, length: int, op: str, attr: str
):
    """Needles cut from the keys themselves (across any of their ``@``, across two
    addresses), through the page and the count, with the evaluator's answer."""
    db, docs = directory
    if attr == "emails" and op == "ew":
        attr = "emails.value"  # still the copy's co path for co; ew reads the rows
    key = "\x1f".join([person[1], *person[2]]).casefold()
    needle = key[start : start + length]
    if "\x1f" in needle or "@" not in needle:
        return
    filter_text = f"{attr} {op} {json.dumps(needle)}"
    want = _want(docs, filter_text)
    assert _search(db, filter_text) == (len(want), want), filter_text
    assert _search(db, filter_text, count=0)[0] == len(want), filter_text


@pytest.mark.parametrize(
    ("value", "parts"),
    [
        ("49@example", ("49", "example")),
        ("49@", ("49", "")),
        ("@example", None),  # no local part: the range would be the whole index
        ("a@b@c", None),  # two "@": only keys with several "@" can hold it
        ("plain", None),
    ],
)
def test_split_takes_needles_with_one_at_and_a_local_part(
    value: str, parts: tuple[str, str] | None
):
    assert local_suffix.split(value) == parts


def test_the_range_and_the_whole_needle_are_bound_parameters():
    """Values travel as parameters (never inlined); the check of the whole value is kept
    beside the range (no clause dropped), and the other keys keep the trigram form."""
    pg = postgresql.dialect()  # type: ignore[no-untyped-call]
    node = bind('userName co "J_Smith%49@Contoso"', USER)
    compiled = Translator("User", "postgresql").where(node).compile(dialect=pg)
    sql, params = str(compiled), dict(compiled.params)
    assert "contoso" not in sql.lower() and "94" not in sql
    # The reversed local part and the end of its prefix range.
    assert {"94%htims_j", "94%htims_k"} <= set(params.values())
    assert "j_smith%49@contoso" in params.values()  # strpos: the whole value
    assert "%j\\_smith\\%49@%" in params.values()  # the other keys' trigram form
    assert "scim_key_one_at(" in sql and "scim_key_many_ats(" in sql and "UNION ALL" in sql


def _plan(db: Database, filter_text: str, bitmap: bool) -> str:
    """The count statement's plan (EXPLAIN ANALYZE) as text, sequential scans off (and
    bitmap scans unless ``bitmap``) so the tiny test table is read as a large one is."""
    node = bind(filter_text, USER)
    with db.begin() as conn:
        conn.execute(text("SET LOCAL enable_seqscan = off"))
        if not bitmap:
            conn.execute(text("SET LOCAL enable_bitmapscan = off"))
        stmt = Translator("User", "postgresql").narrow_count(node)
        assert stmt is not None
        compiled = stmt.compile(dialect=conn.dialect)
        rows = conn.exec_driver_sql(
            "EXPLAIN (ANALYZE, COSTS OFF) " + str(compiled), dict(compiled.params)
        )
        return "\n".join(r[0] for r in rows)


@pytest.mark.postgres
def test_the_count_is_an_index_only_range_on_postgresql(directory: Any):
    """Issue 3 point 10: on PostgreSQL the exact count of ``userName co "49@example"`` and
    ``emails co "73@mail"`` reads the reversed local-part index (migration 0023) only:
    no heap row once the pages are all-visible (after VACUUM, as autovacuum leaves them)."""
    db, _docs = directory
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the reversed local-part index is PostgreSQL's")
    with db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE user_name_search, user_email_search"
        )
    for filter_text, index in [
        ('userName co "49@example"', "ix_user_name_search_local_rev"),
        ('emails co "73@mail"', "ix_user_email_search_local_rev"),
        ('userName ew "49@example.com"', "ix_user_name_search_local_rev"),
    ]:
        plan = _plan(db, filter_text, bitmap=False)
        assert f"Index Only Scan using {index}" in plan, plan
        assert "Heap Fetches: 0" in plan, plan
        # The other keys: their own small trigram index (GIN: a bitmap scan).
        other = index.replace("local_rev", "many_ats_trgm")
        assert f"Bitmap Index Scan on {other}" in _plan(db, filter_text, bitmap=True)
