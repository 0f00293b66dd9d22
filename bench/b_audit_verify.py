"""``ostiary audit verify`` over 1,000,000 events (target: under 10 s).

Command: ``.venv/bin/python -m bench audit_verify`` (``AUDIT_BENCH_EVENTS`` to change the
count). Bulk-inserts synthetic, correctly chained events into a SQLite deployment in a
temporary directory, times what the periodic and an operator's checkpoint read before
signing, signs a checkpoint, then times the real command as a process.
"""

from __future__ import annotations

import itertools
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.deploy import Deployment, deploy

from ostiary.audit.entries import event_document, place
from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.audit.merkle import leaf_hash
from ostiary.audit.verify import ROW_COLUMNS
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import sqlite_time
from ostiary.store.repositories.audit_integrity import Integrity

# Runs the real command in a child that reports, as it exits, the kernel's account of its
# main thread: nanoseconds on a CPU and nanoseconds runnable but waiting for one.
_WRAPPER = """
import atexit, sys
from pathlib import Path
def _report():
    sys.stderr.write("schedstat " + Path("/proc/self/schedstat").read_text())
atexit.register(_report)
sys.argv = ["ostiary", "audit", "verify"]
from ostiary.cli.main import main
main()
"""
EVENTS = int(os.environ.get("AUDIT_BENCH_EVENTS", "1000000"))
BATCH = 20_000


def _synthetic_id(at: datetime, i: int) -> str:
    """A UUIDv7-shaped id (time, then the event number): unique, and cheaper to make a
    million of than random ones."""
    ms = int(at.timestamp() * 1000)
    h = f"{ms:012x}7000{0x8000 | (i >> 48) & 0x3FFF:04x}{i & 0xFFFFFFFFFFFF:012x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _entries(count: int) -> Iterator[tuple[Any, ...]]:
    """``count`` correctly chained synthetic events as rows, built the way ``append``
    builds them (document, canonical template, position and predecessor spliced in)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    actor = Actor(kind="key", id="k1AbCdEfGhIj", auth="bearer_key", key_version=1)
    prev = None
    for i in range(count):
        at = start + timedelta(milliseconds=i, microseconds=7)
        event = AuditEvent(
            action="scim.user.create",
            actor=actor,
            target_type="User",
            target_id=f"user-{i}",
            after={"userName": f"user{i}@example.com"},
            request=RequestInfo("192.0.2.1", "bench", f"r{i}"),
        )
        event_id = _synthetic_id(at, i)
        entry = place(event_document(event, event_id, at), i, prev)
        prev = leaf_hash(entry)
        # verify.ROW_COLUMNS after the position (migration 0024 dropped the other copies).
        yield (
            i,
            event_id,
            sqlite_time(at),
            event.action,
            actor.id,
            event.target_id,
            entry.decode(),
            prev,
        )


_SEARCHED = "seq, id, occurred_at, action, actor_id, target_id"
_INDEX_ALL = f"INSERT INTO audit_search ({_SEARCHED}) SELECT {_SEARCHED} FROM audit_events"


def _fill(dep: Deployment, count: int) -> None:
    """Bulk insert: one executemany per 20,000 rows through the driver, the head row set
    once at the end (no per-event API call)."""
    columns = ("seq", *ROW_COLUMNS[2:])  # the seq is the tree position
    sql = (
        f"INSERT INTO audit_events ({', '.join(columns)}) "
        f"VALUES ({', '.join('?' for _ in columns)})"
    )
    rows = _entries(count)
    last = None
    with dep.db.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        while chunk := list(itertools.islice(rows, BATCH)):
            cursor.executemany(sql, chunk)
            last = chunk[-1][-1]
        # The search indexes as the appends would have left them (not read by verify).
        cursor.execute(_INDEX_ALL)
        cursor.execute(
            "UPDATE audit_head SET size = ?, last_leaf = ?, indexed = ? WHERE id = 1",
            (count, last, count),
        )
        cursor.close()


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dep = deploy(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp))
        began = time.perf_counter()
        _fill(dep, EVENTS)
        print(f"inserted {EVENTS} events in {time.perf_counter() - began:.1f}s")
        vault = bootstrap.open_vault(dep.settings, dep.db)
        # What a checkpoint reads before it signs: the periodic one folds the stored leaf
        # hashes, an operator's verifies every entry (docs/audit.md "Checkpoints").
        for label, head in (
            ("periodic (stored leaf hashes)", Integrity.stored_head),
            ("operator's (verified entries)", Integrity.verified_head),
        ):
            began, cpu = time.perf_counter(), time.process_time()
            with dep.db.read() as conn:
                head(Integrity(conn, vault))
            print(
                f"{label} checkpoint's read over {EVENTS} events: "
                f"{time.perf_counter() - began:.2f}s wall, {time.process_time() - cpu:.2f}s CPU"
            )
        began = time.perf_counter()
        with dep.db.begin() as conn:
            Integrity(conn, vault).checkpoint("bench", datetime.now(UTC))
        print(f"first checkpoint over {EVENTS} events: {time.perf_counter() - began:.2f}s")
        env = {
            **os.environ,
            "OSTIARY_DATABASE_URL": dep.settings.database_url,
            "OSTIARY_MASTER_KEY_FILE": str(dep.settings.master_key_file),
            "OSTIARY_CONFIG": str(Path(tmp) / "none.toml"),
        }
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-c", _WRAPPER], env=env, capture_output=True, text=True, check=False
        )
        elapsed = time.perf_counter() - began
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
            cpu_after.ru_stime - cpu_before.ru_stime
        )
        err, _, sched = result.stderr.rpartition("schedstat ")
        print(result.stdout.strip() or err.strip())
        on_cpu, waiting = (int(x) / 1e9 for x in sched.split()[:2])
        print(
            f"ostiary audit verify over {EVENTS} events: {elapsed:.2f}s wall, "
            f"{cpu:.2f}s CPU (whole process, start-up included); load {os.getloadavg()[0]:.1f}"
        )
        # Where the wall time went: on a CPU, runnable but waiting for one (other work on
        # the 2 cores), or neither (blocked: disk or database waits).
        print(
            f"  kernel schedstat: {on_cpu:.2f}s on a CPU, {waiting:.2f}s runnable waiting "
            f"for a CPU, {elapsed - on_cpu - waiting:.2f}s blocked (I/O) or start-up"
        )
        dep.db.dispose()
