"""Substring filters (``co``/``sw``/``ew``, RFC 7644 section 3.4.2.2) on address-like
attributes: the SQL the translator emits and the rows it selects.

On PostgreSQL a ``co``/``ew`` value that spans an address's ``@`` drives the trigram index
with the text before the ``@`` and checks the whole value on the rows found (see
``substring.address_head`` and docs/performance.md). These tests hold the translator's
guarantees on that path: values are bound parameters, LIKE wildcards are escaped, the
case rules of RFC 7643 section 2.2 hold (userName and emails.value are caseExact=false),
and no clause is dropped: the rows are exactly the in-memory evaluator's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.dialects import postgresql

from ostiary.directory.models import User
from ostiary.scim.filter import bind
from ostiary.scim.filter_eval import matches
from ostiary.scim.filter_schema import USER
from ostiary.store.db import Database
from ostiary.store.repositories.scim_search import Query, ScimSearch
from ostiary.store.repositories.users import UserRepository
from ostiary.store.scim_query import Translator
from ostiary.store.substring import address_head
from tests.support.directory import seeded

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
PG = postgresql.dialect()  # type: ignore[no-untyped-call]


def _sql(text: str) -> tuple[str, dict[str, Any]]:
    compiled = Translator("User", "postgresql").where(bind(text, USER)).compile(dialect=PG)
    return str(compiled), dict(compiled.params)


@pytest.mark.parametrize(
    ("value", "head"),
    [
        ("smith@contoso", "smith@"),
        ("j.smith@contoso.com", "j.smith@"),
        ('"a@b"12@x', '"a@b"12@'),  # the last "@" is the domain's
        ("a_bc@x", "a_bc@"),
        ("@contoso", None),  # nothing before the "@"
        ("x@contoso", None),  # one character gives pg_trgm no trigram
        ("a.@contoso", None),
        ("smith@", None),  # nothing after: the whole value is the head
        ("smith", None),
    ],
)
def test_address_head_is_the_text_up_to_the_last_at(value: str, head: str | None):
    assert address_head(value) == head


@pytest.mark.parametrize(
    "text",
    [
        'emails co "J_Smith%12@Contoso"',
        'emails.value co "J_Smith%12@Contoso"',
        'emails[value co "J_Smith%12@Contoso"]',
        'userName co "J_Smith%12@Contoso"',
    ],
)
def test_an_address_co_binds_head_and_whole_value_as_parameters(text: str):
    sql, params = _sql(text)
    # The index condition: the head, casefolded, wildcards escaped, between two wildcards.
    assert "LIKE %(" in sql and "ESCAPE '\\'" in sql
    assert "%j\\_smith\\%12@%" in params.values()
    # The whole value is checked too (strpos: no wildcard to escape), never dropped.
    assert "strpos(" in sql and "j_smith%12@contoso" in params.values()
    assert "contoso" not in sql  # no value is inlined


def test_an_address_ew_checks_the_whole_suffix():
    sql, params = _sql('userName ew "Smith@Contoso.COM"')
    assert "%smith@%" in params.values()
    assert "right(" in sql and "smith@contoso.com" in params.values()
    assert len("smith@contoso.com") in params.values()


@pytest.mark.parametrize(
    "text", ['userName co "@contoso"', 'userName sw "smith@con"', 'displayName co "a@bcd"']
)
def test_other_substrings_keep_one_like(text: str):
    sql, _ = _sql(text)
    assert sql.count(" LIKE ") == 1 and "strpos(" not in sql


ADDRESSES = [
    ("smith1", ["J.Smith@Contoso.com", "smith@other.org"]),
    ("smith2", ["jsmith@contoso.com"]),
    ("quoted", ['"a@b"smith@contoso.com']),
    ("wild", ["j_smith%11@contoso.com"]),
    ("tame", ["jxsmithzz11@contoso.com"]),  # matches "_smith%11@" only if unescaped
    ("elsewhere", ["smith@elsewhere.net"]),  # has the head of "smith@contoso", not the rest
    ("back", ["j\\smith@contoso.com"]),
    ("plain", ["nobody"]),
    ("none", []),
]
FILTERS = [
    'emails co "smith@contoso"',
    'emails co "SMITH@CONTOSO.COM"',
    'emails.value co "h@contoso"',
    'emails[value co "b\\"smith@con"]',
    'emails co "_smith%11@contoso"',
    'emails co "\\\\smith@c"',
    'emails ew "smith@contoso.com"',
    'emails ew "th@other.org"',
    'emails sw "j.smith@con"',
    'userName co "th1@ex"',
    'userName ew "ith2@example.com"',
    'not (emails co "smith@contoso")',
    'emails co "smith@contoso" and userName co "1@"',
]


@pytest.fixture
def directory(database_url: str) -> Any:
    people = [
        (
            f"u-{i}",
            f"{name}@Example.com",
            {"emails": [{"value": e, "type": "work"} for e in emails]} if emails else {},
        )
        for i, (name, emails) in enumerate(ADDRESSES)
    ]
    db, docs = seeded(database_url, people)
    yield db, docs
    db.dispose()


@pytest.mark.parametrize("text", FILTERS)
def test_address_substrings_select_what_the_evaluator_selects(directory: Any, text: str):
    db, docs = directory
    node = bind(text, USER)
    want = sorted(i for i, doc in docs.items() if matches(node, doc))
    assert 0 < len(want) < len(docs), text  # each filter separates the directory
    with db.read() as conn:
        got = [r.id for r in ScimSearch(conn, "User").run(Query(filter=node)).rows]
    assert got == want, text


@pytest.mark.parametrize("cap", [20_000, 1], ids=["matched-first", "over-the-cap"])
@pytest.mark.parametrize(
    ("text", "sort_by"),
    [
        ('emails co "@contoso"', None),
        ('emails co "smith"', "userName"),
        ('userName co "@example"', "userName"),
        ('emails sw "j"', None),
    ],
)
def test_substring_pages_count_sort_and_skip_like_any_search(
    directory: Any, monkeypatch: pytest.MonkeyPatch, cap: int, text: str, sort_by: str | None
):
    """RFC 7644 section 3.4.2.4 (startIndex, count, totalResults) and 3.4.2.3 (sortBy):
    a substring search on PostgreSQL takes its page from the matches (and beyond
    MATCH_FIRST_MAX matches the general path); both give every engine's answer."""
    from ostiary.scim.filter import sort_ref
    from ostiary.store.repositories import scim_search

    monkeypatch.setattr(scim_search, "MATCH_FIRST_MAX", cap)
    db, docs = directory
    node = bind(text, USER)
    want = sorted(i for i, doc in docs.items() if matches(node, doc))
    if sort_by:
        want.sort(key=lambda i: (docs[i]["userName"].lower(), i), reverse=True)
    sort = sort_ref(USER, sort_by) if sort_by else None
    with db.read() as conn:
        search = ScimSearch(conn, "User")

        def run(start: int, count: int) -> tuple[int, list[str]]:
            q = Query(node, sort, sort is not None, start_index=start, count=count)
            page = search.run(q)
            return page.total, [r.id for r in page.rows]

        assert len(want) >= 3, text
        assert run(1, 100) == (len(want), want)
        assert run(2, 2) == (len(want), want[1:3])
        assert run(1, 0) == (len(want), [])
        assert run(len(want) + 5, 10) == (len(want), [])


@pytest.mark.parametrize(
    ("text", "start"),
    [
        ('emails co "@contoso"', 1),  # a page of matches
        ('emails co "@nowhere"', 1),  # no match
        ('userName co "@example"', 50),  # startIndex past the end
    ],
)
def test_substring_page_and_counts_are_one_statement(
    directory: Any, monkeypatch: pytest.MonkeyPatch, text: str, start: int
):
    """RFC 7644 section 3.4.2.4: totalResults comes with the page, and an empty page
    (nothing matched, or startIndex past the end) still says how many matched, in the
    same statement on PostgreSQL. Past MATCH_FIRST_MAX the general path answers, with
    JIT off for its full count (docs/performance.md)."""
    from sqlalchemy import event
    from sqlalchemy import text as sql

    from ostiary.store.repositories import scim_search

    db, docs = directory
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the matched-first path is PostgreSQL's")
    with db.read() as conn:
        server_jit = conn.execute(sql("SHOW jit")).scalar()
    node = bind(text, USER)
    want = sorted(i for i, doc in docs.items() if matches(node, doc))
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    with db.read() as conn:
        event.listen(conn, "before_cursor_execute", seen)
        page = ScimSearch(conn, "User").run(Query(filter=node, start_index=start))
        assert (page.total, [r.id for r in page.rows]) == (len(want), want[start - 1 :])
        # One statement runs; before it the planner is asked (EXPLAIN, nothing executed)
        # whether the needle is dense (test_scim_substring_dense.py).
        assert [s for s in statements if not s.startswith("EXPLAIN")] == statements[-1:]
        assert len(statements) == 2
        assert conn.execute(sql("SHOW jit")).scalar() == server_jit
    monkeypatch.setattr(scim_search, "MATCH_FIRST_MAX", 0)
    with db.read() as conn:
        page = ScimSearch(conn, "User").run(Query(filter=node, start_index=start))
        assert (page.total, [r.id for r in page.rows]) == (len(want), want[start - 1 :])
        assert conn.execute(sql("SHOW jit")).scalar() == ("off" if want else server_jit)


@pytest.mark.parametrize(
    "text",
    [
        'emails co "smith"',  # smith1 matches at positions 0 and 1: counted once
        'emails co "other"',  # smith1 matches at position 1 only
        'emails[type eq "work" and value co "@contoso"]',
        'emails sw "j"',
        'emails co "@nowhere"',
    ],
)
def test_email_counts_count_users_not_addresses(directory: Any, text: str):
    """RFC 7644 section 3.4.2.4: totalResults counts resources. The owner count
    (``Translator.owner_count``: each user's first matching address) gives the
    evaluator's number on both engines, whichever addresses of a user match."""
    db, docs = directory
    node = bind(text, USER)
    want = sum(1 for doc in docs.values() if matches(node, doc))
    with db.read() as conn:
        search = ScimSearch(conn, "User")
        assert search.count(search.tr.where(node), node) == want
        assert search.run(Query(filter=node, count=0)).total == want
        if conn.dialect.name == "postgresql":  # its cost estimate would start JIT
            assert conn.exec_driver_sql("SHOW jit").scalar() == "off"


def test_substring_searches_are_never_prepared(directory: Any):
    """A substring search's best plan depends on its pattern (a prefix range for ``sw``,
    the trigram index for a selective ``co``): on PostgreSQL its statements are planned
    for each value, never prepared (psycopg prepares from the fifth execution, and a
    prepared statement may switch to one generic plan; docs/performance.md). Results
    are the evaluator's either way (on SQLite too), and other statements still get prepared."""
    db, docs = directory
    with db.read() as conn:
        dbapi: Any = conn.connection.dbapi_connection
        threshold = getattr(dbapi, "prepare_threshold", None)
        for text in ['emails sw "j.smith@con"', 'userName co "th1@ex"'] * 6:
            node = bind(text, USER)
            want = sorted(i for i, doc in docs.items() if matches(node, doc))
            page = ScimSearch(conn, "User").run(Query(filter=node))
            assert (page.total, sorted(r.id for r in page.rows)) == (len(want), want)
        if conn.dialect.name != "postgresql":
            return  # SQLite prepares nothing server-side: the results above are the test
        assert dbapi.prepare_threshold == threshold
        prepared = conn.exec_driver_sql("SELECT statement FROM pg_prepared_statements").all()
        assert not [s for (s,) in prepared if "LIKE" in s.upper()]
        for _ in range(threshold + 1):  # an eq search: still prepared as before
            ScimSearch(conn, "User").run(Query(filter=bind('userName eq "x"', USER)))
        prepared = conn.exec_driver_sql("SELECT count(*) FROM pg_prepared_statements").scalar()
        assert prepared


def test_username_co_and_ew_search_the_narrow_copy_on_postgresql():
    """Issue 3 point 10: ``userName co``/``ew`` on PostgreSQL read the narrow
    ``user_name_search`` copy (migration 0021), not a users row per trigram match; ``sw``
    keeps the users prefix index."""
    for text in ['userName co "mith"', 'userName ew "th@example.com"', 'userName co "th1@ex"']:
        sql, _ = _sql(text)
        assert "FROM user_name_search" in sql and "users.id IN" in sql, text
    sql, _ = _sql('userName sw "smith"')
    assert "user_name_search" not in sql
    # emails co: the joined copy (one row per user); other email conditions keep the rows.
    for text in ['emails co "mith"', 'emails.value co "h@contoso"', 'emails[value co "x"]']:
        sql, _ = _sql(text)
        assert "FROM user_email_search" in sql and "FROM user_emails" not in sql, text
    separator = r'emails co "a\u001fb"'  # the copy's separator (a JSON escape in the filter)
    for text in ['emails ew "x"', 'emails[type eq "work" and value co "x"]', separator]:
        sql, _ = _sql(text)
        assert "user_email_search" not in sql and "FROM user_emails" in sql, text


def _userName_hits(db: Database, text: str) -> list[str]:
    with db.read() as conn:
        page = ScimSearch(conn, "User").run(Query(filter=bind(text, USER)))
        assert page.total == len(page.rows)
        return [r.id for r in page.rows]


def _update_user(db: Database, user_id: str, **fields: Any) -> None:
    """One repository update of ``user_id``, as the SCIM write path makes it."""
    with db.begin() as conn:
        repo = UserRepository(conn)
        before = repo.require(user_id)
        changed = repo.require(user_id)
        for name, value in fields.items():
            setattr(changed, name, value)
        repo.update(changed, before.version, before)


def test_user_writes_show_in_username_substring_searches_at_once(directory: Any):
    """Issue 3 point 10 (and RFC 7644 section 3.4.2: a search returns the resources as
    they are): on PostgreSQL the narrow copies that ``userName co``/``ew`` and ``emails
    co`` search are kept by triggers in the writing transaction, so a create, a rename, an
    address change and a delete are seen by the next search, inside the transaction and
    after it. The copies always hold exactly every user's (id, key) and every user's
    address keys in position order."""
    from sqlalchemy import select

    from ostiary.store.tables import user_emails, users
    from ostiary.store.tables_scim_query import user_email_search, user_name_search

    db, _docs = directory
    pg = db.engine.dialect.name == "postgresql"

    def copy_is_exact() -> None:
        if not pg:
            return  # SQLite searches users itself; the copy stays empty there
        with db.read() as conn:
            want = set(conn.execute(select(users.c.id, users.c.user_name_key)).all())
            got = set(conn.execute(select(user_name_search)).all())
            keys: dict[str, list[str]] = {}
            rows = select(user_emails.c.user_id, user_emails.c.value_key)
            for user_id, key in conn.execute(rows.order_by(user_emails.c.position)):
                keys.setdefault(user_id, []).append(key)
            want_emails = {(i, "\x1f".join(k)) for i, k in keys.items()}
            got_emails = set(conn.execute(select(user_email_search)).all())
        assert got == want
        assert got_emails == want_emails and want_emails

    copy_is_exact()
    with db.begin() as conn:
        repo = UserRepository(conn)
        doc = {"emails": [{"value": "Kiwi.Emu@Zoo.example"}, {"value": "Tui.Emu@Zoo.example"}]}
        user = User(id="u-new", user_name="Zebra.Quokka@Example.com", doc=doc, created_at=EPOCH)
        user.updated_at = EPOCH
        repo.add(user)
        found = ScimSearch(conn, "User").run(Query(filter=bind('userName co "ebra.quo"', USER)))
        assert [r.id for r in found.rows] == ["u-new"]
    assert _userName_hits(db, 'userName co "ebra.quo"') == ["u-new"]
    assert _userName_hits(db, 'userName ew "quokka@example.com"') == ["u-new"]
    assert _userName_hits(db, 'emails co "i.emu@zoo"') == ["u-new"]  # both addresses: once
    assert _userName_hits(db, 'emails co "tui.emu"') == ["u-new"]
    copy_is_exact()
    _update_user(db, "u-new", user_name="Walrus.Kea@Example.com")
    assert _userName_hits(db, 'userName co "ebra.quo"') == []
    assert _userName_hits(db, 'userName co "alrus.ke"') == ["u-new"]
    copy_is_exact()
    _update_user(db, "u-new", doc={"displayName": "Kea", "emails": [{"value": "Moa@Zoo.example"}]})
    assert _userName_hits(db, 'userName co "alrus.ke"') == ["u-new"]
    assert _userName_hits(db, 'emails co "i.emu@zoo"') == []
    assert _userName_hits(db, 'emails co "moa@zoo"') == ["u-new"]
    copy_is_exact()
    _update_user(db, "u-new", doc={"displayName": "Kea"})  # no address left
    assert _userName_hits(db, 'emails co "moa@zoo"') == []
    copy_is_exact()
    with db.begin() as conn:
        UserRepository(conn).delete("u-new")
        found = ScimSearch(conn, "User").run(Query(filter=bind('userName co "alrus.ke"', USER)))
        assert found.rows == [] and found.total == 0
    assert _userName_hits(db, 'userName co "alrus.ke"') == []
    copy_is_exact()
