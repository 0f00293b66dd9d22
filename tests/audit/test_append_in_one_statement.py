"""PostgreSQL appends in one round trip (issue 5 points 2 and 6; migration 0026): the
database function places each entry after the locked head from the halves Python
serialised, so the stored entry must be byte for byte the one Python would have placed,
its leaf RFC 9162's SHA-256(0x00 || entry), the chain unbroken across appends of one
and of many events, and a missing head row an audit error that writes nothing. The first
two hold on SQLite too, whose appender places entries in Python."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from ostiary.audit.entries import canonical, chain, event_document
from ostiary.audit.errors import AuditError
from ostiary.audit.events import SYSTEM, Actor, AuditEvent, RequestInfo
from ostiary.audit.merkle import leaf_hash
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import INDEX_BATCH, AuditLog
from ostiary.store.repositories.audit_integrity import Integrity
from tests.support.deploy import Deployment

AT = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)


def _event(i: int) -> AuditEvent:
    """Text the splice must carry through ``jsonb`` unchanged: quotes, backslashes, an
    escaped NUL, non-ASCII, and nested keys named like the chain fields."""
    return AuditEvent(
        action="scim.user.replace",
        actor=Actor(kind="key", id="k1", auth="bearer_key", key_version=3),
        target_type="User",
        target_id=f'u-{i}","prev":"',
        request=RequestInfo(source_ip="192.0.2.1", user_agent='ua "\\ \x00 ü', request_id=f"r{i}"),
        before={"userName": "zoë", "position": 1},
        after={"userName": "Zoë Ångström", "prev": {"position": "\u2028"}},
        detail={"note": "日本語", "request": None},
    )


def _stored(dep: Deployment) -> list[tuple[int, str, str, bytes]]:
    with dep.db.read() as conn:
        rows = conn.execute(text("SELECT seq, id, entry, leaf_hash FROM audit_events ORDER BY seq"))
        return [(int(r[0]), r[1], r[2], bytes(r[3])) for r in rows]


def test_stored_entries_are_the_ones_python_places(deployment: Deployment) -> None:
    """One event, then a batch of five, then one: each entry is the canonical JSON of its
    redacted document chained to the stored leaf before it."""
    dep = deployment
    events = [_event(i) for i in range(7)]
    with dep.db.begin() as conn:
        ids = AuditLog(conn).append_many([(events[0], AT)])
    with dep.db.begin() as conn:
        ids += AuditLog(conn).append_many([(e, AT) for e in events[1:6]])
    with dep.db.begin() as conn:
        ids.append(AuditLog(conn).append(events[6], AT))
    rows = _stored(dep)
    assert [r[1] for r in rows] == ids
    prev = None
    for (seq, event_id, entry, leaf), event in zip(rows, events, strict=True):
        expected = canonical(chain(event_document(event, event_id, AT), seq, prev))
        assert entry.encode() == expected
        assert leaf == leaf_hash(expected)
        prev = leaf
    with dep.db.read() as conn:
        report = Integrity(conn, bootstrap.open_vault(dep.settings, dep.db)).verify()
    assert report.ok and report.events == 7, report.problems


def test_a_batch_completing_the_search_index_moves_the_head_and_indexes_it(
    deployment: Deployment,
) -> None:
    dep = deployment
    with dep.db.begin() as conn:
        for i in range(INDEX_BATCH - 3):
            AuditLog(conn).append(
                AuditEvent(action="test.fill", actor=SYSTEM, target_id=f"t{i}"), AT
            )
    more = [(AuditEvent(action="test.more", actor=SYSTEM, target_id=f"m{i}"), AT) for i in range(5)]
    with dep.db.begin() as conn:
        AuditLog(conn).append_many(more)
    with dep.db.read() as conn:
        size, indexed = conn.execute(text("SELECT size, indexed FROM audit_head")).one()
        searched = conn.execute(text("SELECT count(*), max(seq) FROM audit_search")).one()
    assert int(indexed) == INDEX_BATCH + 2 and tuple(searched) == (INDEX_BATCH + 2, INDEX_BATCH + 1)
    assert int(size) == INDEX_BATCH + 2
    with dep.db.read() as conn:
        report = Integrity(conn, bootstrap.open_vault(dep.settings, dep.db)).verify()
    assert report.ok and report.events == INDEX_BATCH + 2, report.problems


@pytest.mark.postgres
def test_a_missing_head_row_is_an_audit_error_and_writes_nothing(pg_deployment: Deployment) -> None:
    """PostgreSQL reads the head row at every append (SQLite appends after the head it
    last committed, and reads the row only when that is stale)."""
    dep = pg_deployment
    with dep.db.begin() as conn:
        conn.execute(text("DELETE FROM audit_head"))
    with pytest.raises(AuditError, match="audit_head row is missing"), dep.db.begin() as conn:
        AuditLog(conn).append_many([(_event(0), AT), (_event(1), AT)])
    assert _stored(dep) == []
