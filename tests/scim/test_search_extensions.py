"""Custom schema extensions (OSTIARY_SCIM_EXTENSIONS) are filterable and sortable like
the built-in ones: RFC 7644 section 3.4.2.2 URN-qualified attribute paths, resolved
against the one attribute catalogue the registry builds.

As in test_search_equivalence, hypothesis writes filters and the SQL translator
(SQLite and PostgreSQL) must select exactly the users the in-memory evaluator selects,
here over extension strings (caseExact or not), integers, decimals, booleans, a complex
attribute's sub-attributes and a multi-valued complex attribute's value paths. Stored
values of the wrong JSON type (a number held as a string...) must be read as absent by
both. What the store cannot compare (a dateTime held as the client wrote it) is a 400
invalidFilter, never a dropped clause."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostiary.scim.errors import InvalidFilter, InvalidValue
from ostiary.scim.filter import bind, sort_ref
from ostiary.scim.filter_eval import matches
from ostiary.scim.registry import build_registry
from ostiary.store.db import Database
from ostiary.store.repositories.scim_search import Query, ScimSearch
from ostiary.store.repositories.users import UserRepository
from ostiary.web.scim.search import render_user_row
from tests.scim.search_data import BASE, plan

URN = "urn:example:params:scim:schemas:extension:acme:2.0:User"
EXTENSION = {
    "id": URN,
    "resourceType": "User",
    "attributes": [
        {"name": "badge", "type": "integer"},
        {"name": "score", "type": "decimal"},
        {"name": "clearance", "type": "string"},
        {"name": "code", "type": "string", "caseExact": True},
        {"name": "remote", "type": "boolean"},
        {"name": "hiredOn", "type": "dateTime"},
        {
            "name": "site",
            "type": "complex",
            "subAttributes": [{"name": "city"}, {"name": "floor", "type": "integer"}],
        },
        {
            "name": "badges",
            "type": "complex",
            "multiValued": True,
            "subAttributes": [
                {"name": "value"},
                {"name": "type"},
                {"name": "level", "type": "integer"},
            ],
        },
        {"name": "tags", "type": "string", "multiValued": True},
        {"name": "secret", "type": "string", "returned": "never"},
    ],
}
SCHEMA = build_registry(json.dumps([EXTENSION])).user.search
WORDS = ["Paris", "paris", "Oslo", "a%b", "x_y", "", "Zoë"]
NUMBERS = [0, 1, 2, 7, -3, 1.5, 2.25, 10]
STRINGS = [f"{URN}:{a}" for a in ("clearance", "code", "site.city", "badges.value", "badges.type")]
NUMERIC = [f"{URN}:{a}" for a in ("badge", "score", "site.floor", "badges.level")]


def _wrong_type(rng: random.Random, value: Any) -> Any:
    """Sometimes a value of another JSON type (not what validation lets in, but what an
    older configuration may have stored)."""
    return rng.choice([str(value), True, None, [value]]) if rng.random() < 0.1 else value


def _extension(rng: random.Random) -> dict[str, Any]:
    block: dict[str, Any] = {}
    if rng.random() < 0.7:
        block["badge"] = _wrong_type(rng, rng.choice([0, 1, 2, 7, -3, 12]))
    if rng.random() < 0.6:
        block["score"] = _wrong_type(rng, rng.choice([1.5, 2, 2.25, -0.5, 10.0]))
    for name in ("clearance", "code"):
        if rng.random() < 0.6:
            block[name] = _wrong_type(rng, rng.choice(WORDS))
    if rng.random() < 0.5:
        block["remote"] = _wrong_type(rng, rng.random() < 0.5)
    if rng.random() < 0.3:
        block["hiredOn"] = "2026-01-02T03:04:05Z"
    if rng.random() < 0.5:
        block["site"] = {"city": rng.choice(WORDS), "floor": rng.choice([0, 2, 7])}
    badges = [
        {"value": rng.choice(WORDS), "type": rng.choice(["gold", "Gold", "blue"])}
        | ({"level": rng.choice([1, 2, 7])} if rng.random() < 0.6 else {})
        for _ in range(rng.randrange(0, 3))
    ]
    if badges:
        block["badges"] = badges
    if rng.random() < 0.3:
        block["tags"] = ["a", "b"]
    return block


@pytest.fixture(scope="module")
def _plan() -> Any:
    return plan(n_users=50, seed_value=11)


@pytest.fixture
def directory(database_url: str, _plan: Any) -> Any:
    db = Database(database_url, pool_size=2)
    from ostiary.store import migrate

    migrate.upgrade(db)
    rng = random.Random(5)
    with db.begin() as conn:
        repo = UserRepository(conn)
        for user in _plan.users:
            block = _extension(rng)
            doc = {**user.doc, URN: block} if block else user.doc
            repo.add(replace(user, doc=doc))
    with db.read() as conn:
        rows = ScimSearch(conn, "User").run(Query(count=100_000)).rows
    docs = {r.id: render_user_row(BASE, r, None) for r in rows}
    yield db, docs
    db.dispose()


def _sql_ids(db: Database, node: Any) -> list[str]:
    with db.read() as conn:
        return [r.id for r in ScimSearch(conn, "User").run(Query(filter=node, count=100_000)).rows]


def _leaf() -> Any:
    text = st.builds(
        lambda a, o, v: f"{a} {o} {json.dumps(v)}",
        st.sampled_from(STRINGS),
        st.sampled_from(["eq", "ne", "co", "sw", "ew", "gt", "lt", "ge", "le"]),
        st.sampled_from([*WORDS, "P", "ARIS", "%", "_", "gold", "GOLD"]),
    )
    number = st.builds(
        lambda a, o, v: f"{a} {o} {json.dumps(v)}",
        st.sampled_from(NUMERIC),
        st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]),
        st.sampled_from(NUMBERS),
    )
    boolean = st.builds(
        lambda o, v: f"{URN}:remote {o} {json.dumps(v)}",
        st.sampled_from(["eq", "ne"]),
        st.booleans(),
    )
    present = st.builds(
        lambda a: f"{a} pr",
        st.sampled_from([*STRINGS, *NUMERIC, f"{URN}:remote", f"{URN}:site", f"{URN}:badges"]),
    )
    path = st.builds(
        lambda t, o, v: f'{URN}:badges[type eq "{t}" and level {o} {v}]',
        st.sampled_from(["gold", "GOLD", "blue"]),
        st.sampled_from(["eq", "gt", "le"]),
        st.sampled_from([1, 2, 7]),
    )
    core = st.sampled_from(['userName co "a"', "active eq true", "title pr"])
    return st.one_of(text, number, boolean, present, path, core)


FILTERS = st.recursive(
    _leaf(),
    lambda kids: st.one_of(
        st.builds(lambda a, b: f"{a} and {b}", kids, kids),
        st.builds(lambda a, b: f"({a} or {b})", kids, kids),
        st.builds(lambda a: f"not ({a})", kids),
    ),
    max_leaves=4,
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=FILTERS)
def test_extension_filters_agree_with_the_evaluator(directory: Any, text: str) -> None:
    """RFC 7644 section 3.4.2.2: URN-qualified custom extension attributes."""
    db, docs = directory
    try:
        node = bind(text, SCHEMA)
    except InvalidFilter:
        return  # a substring operator on a number...: refused, nothing dropped
    want = sorted(i for i, doc in docs.items() if matches(node, doc))
    assert _sql_ids(db, node) == want, text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"{URN}:badge ge 7", lambda b: isinstance(b.get("badge"), int) and b["badge"] >= 7),
        (f'{URN}:clearance eq "PARIS"', lambda b: str(b.get("clearance")).lower() == "paris"),
        (f'{URN}:code eq "Paris"', lambda b: b.get("code") == "Paris"),
    ],
)
def test_named_extension_filters_select_what_they_say(directory: Any, text: str, expected: Any):
    """caseExact from the extension's declaration: clearance ignores case, code does not;
    an integer compares as a number, and a number stored as a string is not one."""
    db, docs = directory
    want = sorted(
        i
        for i, doc in docs.items()
        if isinstance(doc.get(URN), dict)
        and expected(doc[URN])
        and not isinstance(doc[URN].get("badge"), bool)
    )
    got = _sql_ids(db, bind(text, SCHEMA))
    assert got == want and got, text


@pytest.mark.parametrize(
    "text",
    [
        f'{URN}:hiredOn gt "2026-01-01T00:00:00Z"',  # stored as written: no instant order
        f"{URN}:hiredOn pr",
    ],
)
def test_uncomparable_extension_attributes_are_invalid_filter(directory: Any, text: str):
    db, _ = directory
    with pytest.raises(InvalidFilter):
        _sql_ids(db, bind(text, SCHEMA))


@pytest.mark.parametrize(
    "text",
    [
        f'{URN}:badge co "7"',  # a substring of a number
        f'{URN}:badge eq "7"',  # a string for a number
        f'{URN}:tags eq "a"',  # multi-valued without a value sub-attribute
        f'{URN}:secret eq "x"',  # returned never: not an oracle
        f'{URN}:nope eq "x"',
        "urn:example:unknown:User:badge eq 7",
    ],
)
def test_extension_filters_that_cannot_bind_are_refused(text: str):
    with pytest.raises(InvalidFilter):
        bind(text, SCHEMA)


def test_sort_by_an_extension_attribute(directory: Any):
    """RFC 7644 section 3.4.2.3: sortBy takes a URN-qualified attribute; unassigned values
    (and values of the wrong type) sort last ascending."""
    db, docs = directory
    ref = sort_ref(SCHEMA, f"{URN}:badge")
    with db.read() as conn:
        rows = ScimSearch(conn, "User").run(Query(sort=ref, count=100_000)).rows
    badges = [docs[r.id].get(URN, {}).get("badge") for r in rows]
    numbers = [b for b in badges if isinstance(b, int) and not isinstance(b, bool)]
    assert numbers == sorted(numbers) and len(numbers) > 5
    assert badges[: len(numbers)] == numbers  # every number before every non-number
    with pytest.raises(InvalidValue):
        sort_ref(SCHEMA, f"{URN}:site")  # complex: name a sub-attribute
