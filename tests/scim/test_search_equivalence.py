"""The database translator and the in-memory evaluator agree on random filters.

RFC 7644 section 3.4.2.2 (every operator, and/or/not with precedence, value paths,
sub-attributes, URN-qualified extension attributes, case rules). Hypothesis writes filter
strings from the grammar over a fixed random directory; for each one, the ids the SQL
returns (SQLite and PostgreSQL) must equal the ids the evaluator selects from the
rendered resources. A filter that fails to bind must fail with invalidFilter, never
anything else."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostiary.scim.errors import InvalidFilter
from ostiary.scim.filter import bind
from ostiary.scim.filter_eval import matches
from ostiary.scim.filter_schema import GROUP, USER, ResourceSchema
from ostiary.store.db import Database
from ostiary.store.repositories.scim_search import Query, ScimSearch, groups_of, members_of
from ostiary.web.scim.search import render_group_row, render_user_row
from tests.scim.search_data import BASE, plan, seed

ENT = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
STRING_OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"]
USER_STRINGS = [
    "userName",
    "externalId",
    "displayName",
    "name.givenName",
    "name.familyName",
    "name.formatted",
    "title",
    "nickName",
    "id",
    "urn:ietf:params:scim:schemas:core:2.0:User:userName",
    f"{ENT}:employeeNumber",
    f"{ENT}:department",
    f"{ENT}:manager.value",
    "emails.value",
    "emails.type",
    "emails",
    "phoneNumbers.value",
    "phoneNumbers.type",
    "groups.value",
    "groups.display",
    "meta.resourceType",
]
USER_BOOLS = ["active", "emails.primary", "phoneNumbers.primary"]
GROUP_STRINGS = ["displayName", "externalId", "id", "members.value", "members.type", "members"]
ELEMENT = {
    "emails": (["value", "type"], ["primary"]),
    "phoneNumbers": (["value", "type"], ["primary"]),
    "groups": (["value", "display"], []),
    "members": (["value", "type"], []),
}
TOKENS = ["", "a", "A", "%", "_", "\\", "ada", "ADA", "example", "work", "Work", "u-00", "g-00"]
# Values spanning an address's "@" take the PostgreSQL path that drives the trigram index
# with the text before the "@" (substring.address_head): wildcards on both sides of it.
TOKENS += ["ADA1@example", "c3@x.l", "y4@ex_a", "%c1@EX", "slash2@", "da12@Example.ORG"]


def _flip(text: str, mask: int) -> str:
    return "".join(c.upper() if (mask >> (i % 16)) & 1 else c.lower() for i, c in enumerate(text))


@st.composite
def string_value(draw: Any, pool: list[str]) -> str:
    base = draw(st.sampled_from(pool + TOKENS))
    if base and draw(st.booleans()):
        i = draw(st.integers(0, len(base) - 1))
        j = draw(st.integers(i + 1, len(base)))
        base = base[i:j]
    return _flip(base, draw(st.integers(0, 2**16))) if draw(st.booleans()) else base


def leaf(pool: list[str], strings: list[str], bools: list[str], times: list[Any]) -> Any:
    text = st.builds(
        lambda a, o, v: f"{a} {o} {json.dumps(v)}",
        st.sampled_from(strings),
        st.sampled_from(STRING_OPS),
        string_value(pool),
    )
    boolean = st.builds(
        lambda a, o, v: f"{a} {o} {json.dumps(v)}",
        st.sampled_from(bools or strings),
        st.sampled_from(["eq", "ne"]),
        st.booleans(),
    )
    present = st.builds(lambda a: f"{a} pr", st.sampled_from(strings + bools))
    if not times:
        return st.one_of(text, boolean, present)
    when = st.builds(
        lambda a, o, t, d: f'{a} {o} "{(t + timedelta(seconds=d)).isoformat()}"',
        st.sampled_from(["meta.created", "meta.lastModified"]),
        st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"]),
        st.sampled_from(times),
        st.sampled_from([0, 0, 1, -1, 3600, -86400]),
    )
    return st.one_of(text, boolean, present, when)


def value_path(pool: list[str], schema: ResourceSchema) -> Any:
    names = [n for n in ELEMENT if n in {a.name for a in schema.core.values()}]

    @st.composite
    def build(draw: Any) -> str:
        attr = draw(st.sampled_from(names))
        strings, bools = ELEMENT[attr]
        inner = draw(
            st.recursive(
                leaf(pool, strings, bools, []),
                lambda kids: st.one_of(
                    st.builds(lambda a, b: f"{a} and {b}", kids, kids),
                    st.builds(lambda a, b: f"({a} or {b})", kids, kids),
                    st.builds(lambda a: f"not ({a})", kids),
                ),
                max_leaves=3,
            )
        )
        return f"{attr}[{inner}]"

    return build()


def filters(pool: list[str], schema: ResourceSchema, times: list[Any]) -> Any:
    strings = USER_STRINGS if schema is USER else GROUP_STRINGS
    bools = USER_BOOLS if schema is USER else []
    base = st.one_of(leaf(pool, strings, bools, times), value_path(pool, schema))
    return st.recursive(
        base,
        lambda kids: st.one_of(
            st.builds(lambda a, b: f"{a} and {b}", kids, kids),
            st.builds(lambda a, b: f"{a} or {b}", kids, kids),
            st.builds(lambda a: f"not ({a})", kids),
            st.builds(lambda a: f"({a})", kids),
        ),
        max_leaves=5,
    )


def _all_docs(db: Database, resource: str) -> dict[str, dict[str, Any]]:
    with db.read() as conn:
        page = ScimSearch(conn, resource).run(Query(count=100_000))
        ids = [r.id for r in page.rows]
        if resource == "User":
            extra = groups_of(conn, ids)
            return {r.id: render_user_row(BASE, r, extra[r.id]) for r in page.rows}
        extra = members_of(conn, ids)
        return {r.id: render_group_row(BASE, r, extra[r.id]) for r in page.rows}


def _sql_ids(db: Database, resource: str, node: Any) -> list[str]:
    with db.read() as conn:
        page = ScimSearch(conn, resource).run(Query(filter=node, count=100_000))
    return [r.id for r in page.rows]


class Directory(tuple):  # type: ignore[type-arg]
    def __repr__(self) -> str:  # hypothesis prints its arguments; keep it short
        return "<directory>"


@pytest.fixture
def directory(database_url: str) -> Any:
    db = Database(database_url, pool_size=2)
    from ostiary.store import migrate

    migrate.upgrade(db)
    data = seed(db)
    yield Directory((db, data, _all_docs(db, "User"), _all_docs(db, "Group")))
    db.dispose()


def _check(db: Database, schema: ResourceSchema, docs: dict[str, Any], text: str) -> None:
    try:
        node = bind(text, schema)
    except InvalidFilter:
        return  # refused with the right error (type mismatch, ...): nothing dropped
    want = sorted(i for i, doc in docs.items() if matches(node, doc))
    assert _sql_ids(db, schema.name, node) == want, text


VALUES = plan().values
# A few values of each attribute (a short pool keeps hypothesis' reprs short).
POOL = sorted({v for vs in VALUES.values() for v in vs[:6] if isinstance(v, str)})
TIMES = VALUES["created"][:8]
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@SETTINGS
@given(text=st.deferred(lambda: filters(POOL, USER, TIMES)))
def test_user_filters_agree_with_the_evaluator(directory: Any, text: str) -> None:
    db, _, users, _ = directory
    _check(db, USER, users, text)


@SETTINGS
@given(text=st.deferred(lambda: filters(POOL, GROUP, TIMES)))
def test_group_filters_agree_with_the_evaluator(directory: Any, text: str) -> None:
    db, _, _, groups = directory
    _check(db, GROUP, groups, text)


FIXED = [
    'userName eq "ADA0@example.com"',
    'userName sw "b%"',
    'userName co "_"',
    'userName co "\\\\"',
    'emails[type eq "work" and value co "@example.com"]',
    'emails.type eq "work"',
    "not (emails pr)",
    f'{ENT}:employeeNumber eq "7"',
    f'{ENT}:manager.value eq "mgr-1"',
    'name.givenName eq "ada" and (title co "eng" or nickName pr)',
    'meta.created gt "2026-01-20T00:00:00Z"',
    'active eq false or externalId sw "EXT"',
    'phoneNumbers[type eq "work" and primary eq true]',
    'groups.display sw "admins"',
    'displayName eq ""',
    "displayName pr",
]


@pytest.mark.parametrize("text", FIXED)
def test_named_filters_agree_and_select_something_plausible(directory: Any, text: str) -> None:
    """Hand-picked filters (wildcards, value paths, extension URNs, dates) agree too."""
    db, _, users, _ = directory
    node = bind(text, USER)
    want = sorted(i for i, doc in users.items() if matches(node, doc))
    assert _sql_ids(db, "User", node) == want
