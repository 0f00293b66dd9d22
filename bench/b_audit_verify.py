"""``ostiary audit verify`` over 1,000,000 events (target: under 10 s).

Command: ``.venv/bin/python -m bench audit_verify`` (``AUDIT_BENCH_EVENTS`` to change the
count). Bulk-inserts synthetic, correctly chained events into a SQLite deployment in a
temporary directory, signs a checkpoint, then times the real command as a process.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update
from tests.support.deploy import deploy

from ostiary.audit.entries import canonical, chain, event_document
from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.audit.merkle import leaf_hash
from ostiary.core.ids import new_id
from ostiary.store import bootstrap
from ostiary.store.repositories.audit_integrity import Integrity
from ostiary.store.tables_audit import audit_events, audit_head

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


def _fill(dep, count: int) -> None:  # type: ignore[no-untyped-def]
    start = datetime(2026, 1, 1, tzinfo=UTC)
    actor = Actor(kind="key", id="k1AbCdEfGhIj", auth="bearer_key", key_version=1)
    prev = None
    rows = []
    for i in range(count):
        at = start + timedelta(milliseconds=i)
        event = AuditEvent(
            action="scim.user.create",
            actor=actor,
            target_type="User",
            target_id=f"user-{i}",
            after={"userName": f"user{i}@example.com"},
            request=RequestInfo("192.0.2.1", "bench", f"r{i}"),
        )
        event_id = new_id()
        doc = chain(event_document(event, event_id, at), i, prev)
        entry = canonical(doc)
        prev = leaf_hash(entry)
        rows.append(
            {
                "position": i,
                "id": event_id,
                "occurred_at": at,
                "action": event.action,
                "outcome": "success",
                "actor_kind": "key",
                "actor_id": actor.id,
                "target_type": "User",
                "target_id": event.target_id,
                "request_id": f"r{i}",
                "source_ip": "192.0.2.1",
                "entry": entry.decode(),
                "leaf_hash": prev,
            }
        )
        if len(rows) == BATCH or i == count - 1:
            with dep.db.begin() as conn:
                conn.execute(insert(audit_events), rows)
                conn.execute(update(audit_head).values(size=i + 1, last_leaf=prev))
            rows = []


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dep = deploy(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp))
        began = time.perf_counter()
        _fill(dep, EVENTS)
        print(f"inserted {EVENTS} events in {time.perf_counter() - began:.1f}s")
        vault = bootstrap.open_vault(dep.settings, dep.db)
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
