"""Audit search at 10,000,000 events on PostgreSQL (issue 5 point 3: "fast at 10 million").

Command: ``.venv/bin/python -m bench audit_search`` (``AUDIT_SEARCH_EVENTS`` to change the
count; 10,000,000 take ~2.5 minutes to build and ~6 GB in a scratch database, dropped
afterwards). The events are written by SQL (``generate_series``), not appended: one a
second, every tenth two seconds behind its neighbours (clocks out of step, so the time
ranges record a lag), 50 actors, half ``scim.user.create``, one in 100,000 ``key.rotate``,
one in 1,000 each ``key.create`` and ``key.revoke``, one in 1,000 a failure; entries of
~40 bytes. The search indexes, time ranges and outcomes are filled as the batch and
migrations 0029 and 0030 fill them, then analysed. Each query is ``AuditReader.search``
(a page of 100), best of three.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import text
from tests.support.deploy import deploy
from tests.support.services import scratch_postgres_database

from ostiary.store.repositories.audit import AuditQuery, AuditReader

EVENTS = int(os.environ.get("AUDIT_SEARCH_EVENTS", "10000000"))
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)

_EVENTS = """
INSERT INTO audit_events (seq, id, occurred_at, action, actor_id, target_id, entry, leaf_hash)
SELECT i, 'ev-' || i,
    CAST(:start AS timestamptz)
        + make_interval(secs => i - CASE WHEN i % 10 = 5 THEN 2 ELSE 0 END),
    CASE WHEN i % 100000 = 7 THEN 'key.rotate'
         WHEN i % 1000 = 11 THEN 'key.create' WHEN i % 1000 = 13 THEN 'key.revoke'
         WHEN i % 2 = 0 THEN 'scim.user.create' ELSE 'scim.group.patch' END,
    'actor-' || (i % 50), 'user-' || i,
    '{"outcome":"' || CASE WHEN i % 1000 = 3 THEN 'failure' ELSE 'success' END
        || '","i":' || i || '}',
    sha256(int8send(i))
FROM generate_series(0, :last) i
"""
_SEARCH = (
    "INSERT INTO audit_search (seq, id, occurred_at, action, actor_id, target_id) "
    "SELECT seq, id, occurred_at, action, actor_id, target_id FROM audit_events"
)
_HEAD = (
    "UPDATE audit_head SET size = :n, indexed = :n, "
    "last_leaf = (SELECT leaf_hash FROM audit_events WHERE seq = :n - 1) WHERE id = 1"
)


def _build(dep: Any) -> None:
    ranges = importlib.import_module(
        "ostiary.store.migrations.versions.0029_audit_search_time_bounds"
    )
    outcomes = importlib.import_module("ostiary.store.migrations.versions.0030_audit_outcomes")
    with dep.db.begin() as conn:
        conn.execute(text(_EVENTS), {"start": START, "last": EVENTS - 1})
        conn.execute(text(_SEARCH))
        conn.execute(text(ranges._FILL.format(behind=ranges._PG_BEHIND)))
        conn.execute(text(outcomes._FILL.format(outcome=outcomes._PG_OUTCOME)))
        conn.execute(text(_HEAD), {"n": EVENTS})
    with dep.db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        for table in ("audit_events", "audit_search", "audit_time_ranges", "audit_outcomes"):
            conn.execute(text(f"VACUUM ANALYZE {table}"))


def _at(fraction: float) -> datetime:
    return START + timedelta(seconds=int(EVENTS * fraction))


def _queries() -> dict[str, AuditQuery]:
    hour = timedelta(hours=1)
    return {
        "since 90%": AuditQuery(since=_at(0.9)),
        "since 10%": AuditQuery(since=_at(0.1)),
        "since 90%, newest first": AuditQuery(since=_at(0.9), newest_first=True),
        "until 10%": AuditQuery(until=_at(0.1)),
        "until 10%, newest first": AuditQuery(until=_at(0.1), newest_first=True),
        "an hour at 50%": AuditQuery(since=_at(0.5), until=_at(0.5) + hour),
        "an hour at 50%, newest first": AuditQuery(
            since=_at(0.5), until=_at(0.5) + hour, newest_first=True
        ),
        "a day before the log (empty)": AuditQuery(
            since=START - timedelta(days=2), until=START - timedelta(days=1)
        ),
        "actor, since 90%": AuditQuery(actor="actor-7", since=_at(0.9)),
        "action prefix, since 50%": AuditQuery(action="scim.user.*", since=_at(0.5)),
        "rare action, since 50%": AuditQuery(action="key.rotate", since=_at(0.5)),
        "prefix of 3 actions (0.2%)": AuditQuery(action="key.*"),
        "target": AuditQuery(target=f"user-{EVENTS // 3}"),
        "actor": AuditQuery(actor="actor-3"),
        "outcome failure (1 in 1,000)": AuditQuery(outcome="failure"),
        "everything, newest first": AuditQuery(newest_first=True),
    }


def run() -> None:
    with scratch_postgres_database() as url:
        dep = deploy(url, Path(tempfile.mkdtemp()))
        try:
            began = time.perf_counter()
            _build(dep)
            print(f"{EVENTS:,} events built in {time.perf_counter() - began:.0f} s")
            with dep.db.read() as conn:
                reader = AuditReader(conn)
                for name, q in _queries().items():
                    times = []
                    for _ in range(3):
                        began = time.perf_counter()
                        hits, _ = reader.search(q)
                        times.append((time.perf_counter() - began) * 1000)
                    print(f"  {name:32s} {min(times):8.1f} ms  ({len(hits)} events)")
        finally:
            dep.db.dispose()
