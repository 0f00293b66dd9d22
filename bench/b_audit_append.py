"""What one audit append adds to a write transaction, in isolation (SQLite).

Command: ``.venv/bin/python -m bench audit_append``. Each transaction inserts a 600-byte
row; with the append it also appends a SCIM create's event (a rendered user as
``after``), built the same way on both sides. Without callgrind it alternates blocks with
and without the append and prints the CPU per transaction. Under
``valgrind --tool=callgrind --instr-atstart=no``, ``OSTIARY_BENCH_CALLGRIND=on`` (or
``off``) counts the instructions of 500 transactions with (or without) the append: run
once each way and divide each ``totals`` by 500. Unlike ``bench audit_scim`` no event
loop or worker thread runs, so the count repeats exactly.
"""

from __future__ import annotations

import os
import resource
import statistics
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from tests.support.deploy import deploy

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.core.ids import new_id
from ostiary.store.db import Database
from ostiary.store.repositories.audit import AuditLog

CALLGRIND = os.environ.get("OSTIARY_BENCH_CALLGRIND", "")
COUNT = 500
ACTOR = Actor(kind="key", id="k_" + "a" * 20, auth="bearer_key", key_version=1)
INFO = RequestInfo(source_ip="127.0.0.1", request_id="r" * 22)


def _event(i: int) -> AuditEvent:
    uid = new_id()
    stamp = "2026-11-29T13:00:00.123456Z"
    after = {
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "id": uid,
        "userName": f"bench-{i}@example.com",
        "name": {"givenName": "Bench", "familyName": str(i)},
        "active": True,
        "meta": {
            "resourceType": "User",
            "created": stamp,
            "lastModified": stamp,
            "version": 'W/"1"',
            "location": f"http://localhost/scim/v2/Users/{uid}",
        },
    }
    return AuditEvent(
        action="scim.user.create",
        actor=ACTOR,
        target_type="User",
        target_id=uid,
        request=INFO,
        after=after,
    )


def _transactions(db: Database, audited: bool, start: int) -> None:
    body = "x" * 600
    for i in range(start, start + COUNT):
        event, now = _event(i), datetime.now(UTC)  # a create builds these either way
        with db.begin() as conn:
            conn.exec_driver_sql("INSERT INTO scratch (body) VALUES (?)", (body,))
            if audited:
                AuditLog(conn).append(event, now)


def _cpu_per_transaction(db: Database, audited: bool, start: int) -> float:
    before = resource.getrusage(resource.RUSAGE_SELF)
    _transactions(db, audited, start)
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return used / COUNT * 1e6


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dep = deploy(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp))
        with dep.db.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE scratch (id INTEGER PRIMARY KEY, body TEXT)")
        _transactions(dep.db, True, 0)  # warm: caches, pages, the head hint
        if CALLGRIND:
            pid = str(os.getpid())
            subprocess.run(["callgrind_control", "-i", "on", pid], check=True)
            _transactions(dep.db, CALLGRIND == "on", COUNT)
            subprocess.run(["callgrind_control", "-i", "off", pid], check=True)
            print(f"{COUNT} transactions, append {CALLGRIND}: divide callgrind's totals by {COUNT}")
        else:
            on: list[float] = []
            off: list[float] = []
            for block in range(10):
                on.append(_cpu_per_transaction(dep.db, True, (2 * block + 1) * COUNT))
                off.append(_cpu_per_transaction(dep.db, False, (2 * block + 2) * COUNT))
            a, b = statistics.median(on), statistics.median(off)
            print(
                f"CPU per transaction (median of 10 blocks of {COUNT}): with the append "
                f"{a:.0f} us, without {b:.0f} us: the append adds {a - b:.0f} us; "
                f"load {os.getloadavg()[0]:.1f}"
            )
        dep.db.dispose()
