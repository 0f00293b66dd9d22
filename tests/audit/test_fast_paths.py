"""The append's and the verifier's fast paths give exactly what the plain definitions give
(issue 5 points 1-2, docs/audit.md "Integrity"): the entry placed from the prepared
document is the canonical JSON of the chained document, redaction by byte search replaces
the same fields as the walk, a frontier extended in blocks is the RFC 9162 tree of the
same leaves, and a checkpoint whose size falls inside a batch of rows is still compared."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ostiary.audit.checkpoint import CheckpointSigner
from ostiary.audit.entries import (
    GENESIS,
    canonical,
    chain,
    event_document,
    halves,
    place,
    utc_times,
)
from ostiary.audit.events import (
    _SECRET_FIELDS,
    _SECRET_KEY,
    REDACTED,
    SYSTEM,
    Actor,
    AuditEvent,
    RequestInfo,
    _redacted,
    has_no_secrets,
    redact,
)
from ostiary.audit.merkle import Frontier, leaf_hash, root_of
from ostiary.audit.verify import Verifier
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import AuditLog, AuditReader
from ostiary.store.repositories.audit_integrity import Integrity
from tests.audit.support import START, hashed_document
from tests.support.deploy import Deployment

KEYS = st.sampled_from(
    ["request", "position", "prev", "id", "Password", "TOKEN", "key", "monkey", "\u212aey", "x"]
)
TEXT = st.text(alphabet=st.sampled_from('ab",:{}\\\u212a\x00 request'), max_size=12)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS | TEXT, inner, max_size=4),
    max_leaves=12,
)
DOCS = st.dictionaries(KEYS | TEXT, JSON, max_size=5)


@settings(max_examples=300, deadline=None)
@given(doc=DOCS, detail=DOCS, ua=TEXT, position=st.integers(0, 10**12), first=st.booleans())
def test_placed_entry_is_the_canonical_chained_document(
    doc: dict[str, Any], detail: dict[str, Any], ua: str, position: int, first: bool
) -> None:
    """Placing sets the top-level "position" and "prev" only: nested keys of the same
    names and quotes in strings are the documents' own. PostgreSQL's append (migration
    0026) joins the document's two halves around the position and the predecessor's hex
    leaf hash in SQL: that is the same entry."""
    event = AuditEvent(
        action="scim.user.update",
        actor=Actor(kind="key", id="k1", auth="bearer_key", key_version=2),
        target_type="User",
        target_id='t","request":{"position":{',
        request=RequestInfo(source_ip="192.0.2.1", user_agent=ua, request_id="r1"),
        before=doc,
        after={**doc, "x": 1},
        detail=detail,
    )
    document = event_document(event, "id-1", datetime(2026, 1, 1, tzinfo=UTC))
    prev = None if first else hashlib.sha256(ua.encode()).digest()
    entry = place(dict(document), position, prev)
    assert entry == canonical(chain(document, position, prev))
    head, tail = halves(document)
    assert f'{head}{position},"prev":"{prev.hex() if prev else GENESIS}",{tail}'.encode() == entry
    assert halves(orjson.loads(entry)) == (head, tail)  # a placed document's are left out


def test_halves_cut_at_the_top_level_chain_fields() -> None:
    """The halves are cut where the placeholder chain fields stand at the top level
    (migration 0026's join): the same text nested in the documents, or in strings after
    them (the user agent, the target id), is the documents' own."""
    nested = {"a": 1, "position": 0, "prev": "", "z": {"position": 0, "prev": "", "q": 2}}
    placeholder = ',"position":0,"prev":"",'
    event = AuditEvent(
        action="scim.user.update",
        actor=Actor(kind="key", id="k1", auth="bearer_key", key_version=2),
        target_type="User",
        target_id=placeholder,
        request=RequestInfo(source_ip="192.0.2.1", user_agent=placeholder, request_id="r1"),
        before=nested,
        after={**nested, "b": placeholder},
        detail=nested,
    )
    document = event_document(event, "id-1", datetime(2026, 1, 1, tzinfo=UTC))
    prev = hashlib.sha256(b"x").digest()
    head, tail = halves(document)
    joined = f'{head}7,"prev":"{prev.hex()}",{tail}'.encode()
    assert joined == place(dict(document), 7, prev)
    assert "position" not in document  # the caller's document is left as it was


def test_halves_refuses_a_document_with_nothing_after_the_chain_fields() -> None:
    with pytest.raises(ValueError, match="without request, target and time"):
        halves({"action": "a", "id": "1"})


@settings(max_examples=300, deadline=None)
@given(before=DOCS, after=DOCS, detail=DOCS, ua=TEXT, updated=st.booleans())
def test_entry_serialised_once_is_the_redacted_event_document(
    before: dict[str, Any], after: dict[str, Any], detail: dict[str, Any], ua: str, updated: bool
) -> None:
    """The append's one-serialisation entry equals the reference (redact each document,
    diff, serialise) whether or not the documents hold secret fields (any case, any
    depth, behind non-ASCII keys) or non-ASCII text anywhere."""
    event = AuditEvent(
        action="scim.user.update",
        actor=Actor(kind="key", id="k1", auth="bearer_key", key_version=2),
        target_type="User",
        target_id="t1",
        request=RequestInfo(source_ip="192.0.2.1", user_agent=ua, request_id="r1"),
        before=before if updated else None,
        after=after,
        detail=detail,
    )
    at = datetime(2026, 1, 1, 12, 0, 0, 5, tzinfo=UTC)
    fast = hashed_document(event, "id-1", utc_times(at)[0])
    reference = event_document(event, "id-1", at)
    assert place(fast, 3, None) == canonical(chain(reference, 3, None))
    prev = hashlib.sha256(ua.encode()).digest()  # placed again (a missed head hint)
    assert place(fast, 4, bytearray(prev)) == canonical(chain(reference, 4, prev))


@settings(max_examples=300, deadline=None)
@given(at=st.datetimes(timezones=st.just(UTC)))
def test_utc_times_are_the_isoformat_and_the_sqlite_column_text(at: datetime) -> None:
    """The entry's ``time`` is ``isoformat()`` (no fraction when it is zero); the column
    text is SQLAlchemy's SQLite DateTime format."""
    assert utc_times(at) == (at.isoformat(), at.isoformat(" ", "microseconds")[:26])


@settings(max_examples=400, deadline=None)
@given(doc=JSON)
def test_redaction_fast_path_matches_the_walk(doc: Any) -> None:
    """Secret fields at any depth, any case, also behind non-ASCII keys (the Kelvin sign
    lowers to an ASCII 'k'), are replaced exactly as the full walk replaces them."""
    assert redact(doc) == _redacted(doc)


def test_redaction_still_replaces_secrets() -> None:
    doc = {"a": [{"Password": "p"}], "\u212aEY": "k", "name": "password"}
    assert redact(doc) == {"a": [{"Password": REDACTED}], "\u212aEY": REDACTED, "name": "password"}
    clean = {"userName": "u", "name": {"givenName": "G"}}
    assert redact(clean) is clean  # nothing to replace: no copy made


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 70), max_size=6))
def test_frontier_extend_equals_appending_one_by_one(sizes: list[int]) -> None:
    """RFC 9162 section 2.1.1: the same MTH whatever the block boundaries."""
    one, blocks, leaves = Frontier(), Frontier(), []
    for n in sizes:
        block = [leaf_hash(b"%d" % (len(leaves) + i)) for i in range(n)]
        leaves += block
        for leaf in block:
            one.append(leaf)
        blocks.extend(block)
        assert (blocks.size, blocks.hashes) == (one.size, one.hashes)
    assert blocks.root() == root_of(leaves)


def _rows(count: int) -> list[tuple[Any, ...]]:
    """Correctly chained rows as the SQLite store hands them over."""
    rows, prev = [], None
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(count):
        at = start + timedelta(milliseconds=i, microseconds=1)
        event = AuditEvent(
            action="test", actor=Actor(kind="system", id="ostiary"), target_id=f"t{i}"
        )
        entry = place(event_document(event, f"id-{i}", at), i, prev)
        prev = leaf_hash(entry)
        when = at.isoformat(" ", "microseconds")[:26]
        copied = (f"id-{i}", when, "test", "ostiary", f"t{i}")  # ROW_COLUMNS[2:7]
        rows.append((i + 1, i, *copied, entry, prev))
    return rows


def test_checkpoints_inside_a_batch_are_compared() -> None:
    rows = _rows(40)
    signer = CheckpointSigner(CheckpointSigner.generate_seed())
    leaves = [r[8] for r in rows]
    now = datetime(2026, 1, 2, tzinfo=UTC)
    good = [(f"#{n}", signer.sign("o", n, root_of(leaves[:n]), now)) for n in (1, 7, 16, 33)]
    bad = ("#bad", signer.sign("o", 21, root_of(leaves[:20]), now))
    batches = [rows[:13], rows[13:30], rows[30:]]
    report = Verifier(signer.public, good).run(batches, recorded_size=40)
    assert report.ok and report.checkpoints_checked == 4 and report.root_hash == root_of(leaves)
    report = Verifier(signer.public, [*good, bad]).run(batches, recorded_size=40)
    assert [p.kind for p in report.problems] == ["modified"]
    assert "#bad" in report.problems[0].message


def test_several_events_in_one_transaction_chain_and_verify(deployment: Deployment) -> None:
    """The token endpoint's group commit appends a batch in one transaction: each event
    takes the next position and chains to the one before; the head moves past all."""
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    first = AuditEvent(action="test.one", actor=SYSTEM, target_id="a")
    with deployment.db.begin() as conn:
        AuditLog(conn).append(first, START)
    batch = [
        (AuditEvent(action="test.batch", actor=SYSTEM, target_id=f"b{i}"), START) for i in range(5)
    ]
    with deployment.db.begin() as conn:
        ids = AuditLog(conn).append_many(batch)
    with deployment.db.read() as conn:
        reader = AuditReader(conn)
        assert [reader.position_of(i) for i in ids] == [1, 2, 3, 4, 5]
        size, last = reader.head()
        assert size == 6 and last == reader.leaf_hashes(5, 6)[0]
    with deployment.db.read() as conn:  # verify starts its own snapshot
        report = Integrity(conn, vault).verify()
    assert report.ok and report.events == 6, report.problems


@settings(max_examples=200, deadline=None)
@given(at=st.datetimes(timezones=st.just(UTC)), later=st.lists(st.integers(0, 999_999)))
def test_utc_times_within_one_second_reuse_nothing_stale(at: datetime, later: list[int]) -> None:
    """utc_times keeps the last second's text: times in the same second (any
    microseconds, zero included) and then a different second still give the isoformat."""
    for us in [*later, 0]:
        same = at.replace(microsecond=us)
        assert utc_times(same) == (same.isoformat(), same.isoformat(" ", "microseconds")[:26])
    other = at + timedelta(seconds=1) if at.year < 9999 else at - timedelta(seconds=1)
    assert utc_times(other) == (other.isoformat(), other.isoformat(" ", "microseconds")[:26])


@settings(max_examples=500, deadline=None)
@given(doc=JSON, key=st.sampled_from(sorted(_SECRET_FIELDS)), case=st.booleans())
def test_secret_search_agrees_with_the_regex_alone(doc: Any, key: str, case: bool) -> None:
    """has_no_secrets (substring pre-check, then the regex) answers exactly what the
    regex over the lowered document answered before the pre-check (issue 5 point 1)."""
    for value in (doc, {(key.upper() if case else key): doc}, [doc, {f"x{key}": 1}]):
        raw = orjson.dumps(value)
        old = raw.isascii() and _SECRET_KEY.search(raw.lower()) is None
        assert has_no_secrets(raw) == old
