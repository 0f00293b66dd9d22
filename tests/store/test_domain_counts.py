"""Per-domain counts for ``co`` needles found in every domain (issue 3 point 10; migration
0022; ``store.domain_counts``). totalResults stays exact (RFC 7644 section 3.4.2.4,
decision 0004): the count built from the counter rows and the local-part index equals
the in-memory evaluator's for every needle, the counter rows follow every write path in
the writing transaction, and folding them changes no count."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select, text

from ostiary.directory.models import User
from ostiary.scim.filter import bind
from ostiary.scim.filter_eval import matches
from ostiary.scim.filter_schema import USER
from ostiary.store import domain_counts
from ostiary.store.db import Database
from ostiary.store.repositories.scim_search import ScimSearch
from ostiary.store.repositories.users import UserRepository
from ostiary.store.tables import user_emails, users
from ostiary.store.tables_scim_query import EMAIL_COPY, NAME_COPY, scim_domain_counts
from tests.support.directory import EPOCH, seeded
from tests.support.services import scratch_postgres_database

# Keys chosen for the edges of "a needle without @ lies in the local part or the domain":
# no "@", several "@" (the last one starts the domain), an empty local part or domain,
# a domain fragment inside a local part, casefolding (ß -> ss), several addresses.
PEOPLE: list[tuple[str, str, list[str]]] = [
    ("u-01", "Ada@Example.com", ["ada@mail.example"]),
    ("u-02", "grace@example.com", ["Grace@Mail.Example", "g.hopper@navy.example"]),
    ("u-03", "plainname", []),
    ("u-04", '"a@b"@example.org', ["x@"]),
    ("u-05", "example.com@other.org", ["@example.com"]),
    ("u-06", "STRASSE@Straße.de", ["weiß@straße.de", "white@strasse.de"]),
    ("u-07", "linus@kernel.example", ["linus@example.com", "linus@kernel.example"]),
    ("u-08", "mailexample@nowhere.net", ["mail.example@nowhere.net"]),
    ("u-09", "x@", ["plain"]),
    ("u-10", "@example.com", ["ex@mple.com"]),
]
NEEDLES = [
    "example.c",
    "mail.ex",
    "example",
    "xam",
    "com",
    "other",
    "strasse",
    "STRAßE",
    "ple.co",
    "kernel",
    "nowhere",
    "plain",
    "linus",
    "zzz",
]


def _docs() -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (uid, name, {"emails": [{"value": e} for e in emails]} if emails else {})
        for uid, name, emails in PEOPLE
    ]


@pytest.fixture
def directory(database_url: str) -> Any:
    db, docs = seeded(database_url, _docs())
    yield db, docs
    db.dispose()


def _count(db: Database, text_filter: str) -> tuple[int, int | None]:
    """(ScimSearch.count, what domain_counts.count alone answers) for one filter."""
    node = bind(text_filter, USER)
    with db.read() as conn:
        search = ScimSearch(conn, "User")
        found = search.tr.copy_needle(node)
        direct = domain_counts.count(conn, *found) if found is not None else None
        return search.count(search.tr.where(node), node), direct


@pytest.mark.parametrize("attr", ["userName", "emails", "emails.value"])
@pytest.mark.parametrize("needle", NEEDLES)
def test_counts_equal_the_evaluator(directory: Any, attr: str, needle: str):
    db, docs = directory
    filter_text = f'{attr} co "{needle}"'
    want = sum(1 for doc in docs.values() if matches(bind(filter_text, USER), doc))
    total, direct = _count(db, filter_text)
    assert total == want, filter_text
    if db.engine.dialect.name == "postgresql" and domain_counts.usable(needle.casefold()):
        assert direct == want, filter_text  # the per-domain way answered, and exactly
    else:
        assert direct is None  # SQLite, or a needle this way cannot take


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    person=st.sampled_from(PEOPLE),
    start=st.integers(min_value=0, max_value=30),
    length=st.integers(min_value=3, max_value=9),
)
def test_any_piece_of_a_key_counts_exactly(
    directory: Any, person: tuple[str, str, list[str]], start: int, length: int
):
    """Needles cut from the keys themselves (both sides of the ``@``, across it, across
    two addresses' boundary), through the whole count path."""
    db, docs = directory
    key = "|".join([person[1], *person[2]]).casefold()
    needle = key[start : start + length].replace('"', "")
    if "|" in needle or not needle:
        return
    for attr in ("userName", "emails"):
        filter_text = f'{attr} co "{needle}"'
        want = sum(1 for doc in docs.values() if matches(bind(filter_text, USER), doc))
        assert _count(db, filter_text)[0] == want, filter_text


def _truth(conn: Connection) -> Counter[tuple[int, str]]:
    """(copy, domains) -> users, computed from the users and address rows in Python."""
    want: Counter[tuple[int, str]] = Counter()
    for (key,) in conn.execute(select(users.c.user_name_key)):
        want[NAME_COPY, _domain(key)] += 1
    joined: dict[str, list[str]] = {}
    rows = select(user_emails.c.user_id, user_emails.c.value_key)
    for user_id, key in conn.execute(rows.order_by(user_emails.c.position)):
        joined.setdefault(user_id, []).append(_domain(key))
    for domains in joined.values():
        want[EMAIL_COPY, "\x1f".join(domains)] += 1
    return want


def _domain(key: str) -> str:
    return key.rsplit("@", 1)[1] if "@" in key else ""


def _stored(conn: Connection) -> Counter[tuple[int, str]]:
    c = scim_domain_counts.c
    stmt = select(c.copy, c.domains, func.sum(c.n)).group_by(c.copy, c.domains)
    return Counter({(copy, d): int(n) for copy, d, n in conn.execute(stmt) if n})


def _counts_are_exact(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        with db.read() as conn:  # SQLite keeps no counts (no trigram search there)
            assert conn.execute(select(func.count()).select_from(scim_domain_counts)).scalar() == 0
        return
    with db.read() as conn:
        assert _stored(conn) == _truth(conn)


def _update(db: Database, user_id: str, **fields: Any) -> None:
    with db.begin() as conn:
        repo = UserRepository(conn)
        before, changed = repo.require(user_id), repo.require(user_id)
        for name, value in fields.items():
            setattr(changed, name, value)
        repo.update(changed, before.version, before)


def test_counts_follow_every_write(directory: Any):
    """Create, rename within and across domains, add, change and remove addresses,
    delete, and a write rolled back to a savepoint (a failed Bulk operation): after each,
    the counter rows sum to what the rows hold."""
    db, _docs = directory
    _counts_are_exact(db)
    with db.begin() as conn:
        _add(conn, "u-new", "Kea@Birds.example")
    _counts_are_exact(db)
    _update(db, "u-new", user_name="Kaka@Birds.example")  # same domain
    _update(db, "u-new", user_name="Kaka@Parrots.example")
    _counts_are_exact(db)
    _update(db, "u-new", doc={"emails": [{"value": "k@one.example"}]})
    _update(db, "u-new", doc={"emails": [{"value": "k@one.example"}, {"value": "k@two.ex"}]})
    _counts_are_exact(db)
    _update(db, "u-new", doc={"emails": [{"value": "k@two.ex"}, {"value": "k@one.example"}]})
    _update(db, "u-new", doc={"emails": [{"value": "other@two.ex"}, {"value": "k@one.example"}]})
    _counts_are_exact(db)
    _update(db, "u-new", doc={})
    _counts_are_exact(db)
    with db.begin() as conn:
        savepoint = conn.begin_nested()
        _add(conn, "u-ghost", "ghost@void.example")
        savepoint.rollback()
    _counts_are_exact(db)
    with db.begin() as conn:
        UserRepository(conn).delete("u-new")
        UserRepository(conn).delete("u-02")
    _counts_are_exact(db)
    assert _count(db, 'userName co "parrots"')[0] == 0


@pytest.fixture
def pg_directory() -> Any:
    with scratch_postgres_database() as url:
        db, docs = seeded(url, _docs())
        yield db, docs
        db.dispose()


@pytest.mark.postgres
def test_truncate_clears_the_counts(pg_directory: Any):
    db, _docs = pg_directory
    with db.begin() as conn:
        conn.execute(text("TRUNCATE users CASCADE"))
    _counts_are_exact(db)
    with db.read() as conn:
        assert conn.execute(select(func.count()).select_from(scim_domain_counts)).scalar() == 0


def _add(conn: Connection, user_id: str, name: str) -> None:
    user = User(id=user_id, user_name=name, doc={}, created_at=EPOCH)
    user.updated_at = EPOCH
    UserRepository(conn).add(user)


@pytest.mark.postgres
def test_fold_keeps_every_count_and_never_waits_on_a_writer(pg_directory: Any):
    """Each backend writes its own counter rows; the fold moves the rows no transaction
    holds into shard 0 (same sums), skips a row an open transaction holds (it would
    otherwise wait on it), and that transaction then commits normally."""
    db, _docs = pg_directory
    with db.read() as conn:
        before = _stored(conn)
    with db.begin() as writer:
        _add(writer, "u-w1", "w1@example.com")  # its backend's example.com row
    with db.begin() as writer:
        pid = writer.execute(text("SELECT pg_backend_pid()")).scalar_one()
        _add(writer, "u-w2", "w2@example.com")  # ... now updated and held, uncommitted
        with db.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '1s'"))  # a wait would fail
            assert domain_counts.fold(conn)
            shards = set(conn.execute(select(scim_domain_counts.c.shard)).scalars())
        assert shards == {0, pid}  # everything but the held row was folded
    _counts_are_exact(db)
    with db.begin() as conn:
        assert domain_counts.fold(conn)
    with db.read() as conn:
        shards = set(conn.execute(select(scim_domain_counts.c.shard)).scalars())
        after = _stored(conn)
    assert shards == {0}
    before[NAME_COPY, "example.com"] += 2
    assert after == before
    _counts_are_exact(db)
