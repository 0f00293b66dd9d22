"""Per-domain counts for ``co`` needles found in every domain (issue 3 point 10; migration
0022; ``store.domain_counts``). totalResults stays exact (RFC 7644 section 3.4.2.4,
decision 0004): the count built from the counter rows and the local-part index equals
the in-memory evaluator's for every needle, the counter rows follow every write path in
the writing transaction, and folding them changes no count."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, func, select, text, union_all

from ostiary.directory.models import User
from ostiary.scim.filter import bind
from ostiary.scim.filter_eval import matches
from ostiary.scim.filter_schema import USER
from ostiary.store import domain_counts
from ostiary.store.db import Database
from ostiary.store.repositories.scim_search import ScimSearch
from ostiary.store.repositories.users import UserRepository
from ostiary.store.tables import user_emails, users
from ostiary.store.tables_scim_query import (
    EMAIL_COPY,
    NAME_COPY,
    scim_domain_counts,
    scim_domain_deltas,
    user_name_search,
)
from tests.support.directory import EPOCH, address_book, seeded
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


@pytest.fixture
def directory(database_url: str) -> Any:
    db, docs = seeded(database_url, address_book(PEOPLE))
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
    """(copy, domains) -> folded count plus unfolded deltas, read in one statement (one
    snapshot), as a count reads them."""
    c, dl = scim_domain_counts.c, scim_domain_deltas.c
    both = union_all(
        select(c.copy, c.domains, c.n), select(dl.copy, dl.domains, dl.d.label("n"))
    ).subquery()
    stmt = select(both.c.copy, both.c.domains, func.sum(both.c.n)).group_by(
        both.c.copy, both.c.domains
    )
    return Counter({(copy, d): int(n) for copy, d, n in conn.execute(stmt) if n})


def _deltas(conn: Connection) -> int:
    return int(conn.execute(select(func.count()).select_from(scim_domain_deltas)).scalar_one())


def _counts_are_exact(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        with db.read() as conn:  # SQLite keeps no counts (no trigram search there)
            assert conn.execute(select(func.count()).select_from(scim_domain_counts)).scalar() == 0
            assert _deltas(conn) == 0
        return
    with db.begin() as conn:  # one snapshot for the stored counts and the truth
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
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
        db, docs = seeded(url, address_book(PEOPLE))
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
        assert _deltas(conn) == 0


def _add(conn: Connection, user_id: str, name: str) -> None:
    user = User(id=user_id, user_name=name, doc={}, created_at=EPOCH)
    user.updated_at = EPOCH
    UserRepository(conn).add(user)


@pytest.mark.postgres
def test_fold_keeps_every_count_and_never_waits_on_a_writer(pg_directory: Any):
    """The writes append deltas; the fold moves the committed ones into the counts (same
    sums), leaves an open transaction's deltas in place without waiting on it (under
    lock_timeout 1 s, a wait would fail), and that transaction then commits or rolls
    back normally: its deltas are folded next time, or gone."""
    db, _docs = pg_directory
    with db.read() as conn:
        before = _stored(conn)
    with db.begin() as writer:
        _add(writer, "u-w1", "w1@example.com")
    with db.begin() as writer:
        _add(writer, "u-w2", "w2@example.com")  # uncommitted while the fold runs
        with db.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '1s'"))
            assert domain_counts.fold(conn)
        with db.read() as conn:
            assert _deltas(conn) == 0  # the committed ones moved; w2's are not visible
        assert _deltas(writer) == 1  # ... and still there (its userName's; no address)
    with db.begin() as writer:
        doomed = writer.begin_nested()
        _add(writer, "u-gone", "gone@example.com")
        with db.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '1s'"))
            assert domain_counts.fold(conn)
        doomed.rollback()
    _counts_are_exact(db)
    with db.begin() as conn:
        assert domain_counts.fold(conn)
    with db.read() as conn:
        assert _deltas(conn) == 0
        after = _stored(conn)
    before[NAME_COPY, "example.com"] += 2
    assert after == before
    _counts_are_exact(db)


@pytest.mark.postgres
def test_only_one_fold_runs_and_a_fold_drops_emptied_domains(pg_directory: Any):
    db, _docs = pg_directory
    with db.begin() as conn:
        _add(conn, "u-lone", "lone@solo.example")
    with db.begin() as first:
        assert domain_counts.fold(first)
        with db.begin() as second:
            assert not domain_counts.fold(second)  # the first holds the lock: skip
    with db.begin() as conn:
        UserRepository(conn).delete("u-lone")
    with db.begin() as conn:
        assert domain_counts.fold(conn)
    with db.read() as conn:
        doms = set(conn.execute(select(scim_domain_counts.c.domains)).scalars())
    assert "solo.example" not in doms
    _counts_are_exact(db)


def _churn(db: Database, worker: int, rounds: int) -> None:
    """Creates, renames across domains, readdresses and deletes users, one transaction
    each, as a SCIM client would."""
    for i in range(rounds):
        uid = f"u-race-{worker}-{i}"
        with db.begin() as conn:
            _add(conn, uid, f"{uid}@race.example")
        _update(db, uid, user_name=f"{uid}@other{i % 3}.race.example")
        _update(db, uid, doc={"emails": [{"value": f"{uid}@mail{i % 2}.race.example"}]})
        if i % 2:
            with db.begin() as conn:
                UserRepository(conn).delete(uid)


def _snapshot_agrees(db: Database) -> None:
    """In one snapshot: stored counts equal the recount, and the dense count equals a
    row-by-row count of the same needle."""
    key = user_name_search.c.user_name_key
    with db.begin() as conn:
        conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        assert _stored(conn) == _truth(conn)
        rows = select(func.count()).where(key.like("%race.exa%"))
        assert domain_counts.count(conn, key, "race.exa") == conn.execute(rows).scalar_one()


@pytest.mark.postgres
def test_folds_racing_writers_keep_every_snapshot_exact(pg_directory: Any):
    """Folds back to back while two writers churn (issue 3 point 10, decision 0004: exact
    totals): every snapshot a reader takes meanwhile counts exactly, and after the last
    fold the deltas are gone and the counts still exact."""
    db, _docs = pg_directory
    done = threading.Event()
    folds = [0]
    failures: list[BaseException] = []

    def folder() -> None:
        while not done.is_set():
            with db.begin() as conn:
                folds[0] += domain_counts.fold(conn)

    def writer(n: int) -> None:
        try:
            _churn(db, n, 25)
        except BaseException as exc:  # reported below, on the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(2)]
    fold_thread = threading.Thread(target=folder)
    for t in (*threads, fold_thread):
        t.start()
    checks = 0
    while any(t.is_alive() for t in threads):
        _snapshot_agrees(db)
        checks += 1
    done.set()
    fold_thread.join()
    assert failures == []
    assert folds[0] > 1 and checks > 1
    with db.begin() as conn:
        assert domain_counts.fold(conn)
    with db.read() as conn:
        assert _deltas(conn) == 0
    _snapshot_agrees(db)
