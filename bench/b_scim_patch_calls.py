"""The 1-member group PATCH of ``b_scim_patch``, in process, call by call: what a slow call did.

Command: ``OSTIARY_BENCH_USERS=100000 .venv/bin/python -m bench scim_patch_calls`` (the
``scim_seed`` deployment; ``OSTIARY_BENCH_ENGINES``; ``OSTIARY_BENCH_N`` calls, default 400).
The ASGI app is called directly (no sockets), with the same add/remove PATCHes, key and
raised rate limits as the HTTP bench. Per call: wall, process CPU, time waiting for a
CPU (``/proc/self/task/*/schedstat``), GC pauses (``gc.callbacks``) and the time of each
SQL statement and of COMMIT (SQLAlchemy events; the audit append's own cursor is timed
as one). Prints the statements per add and per remove, CPU per call after the first 20,
the first calls, the SQL time per call by statement and the six slowest calls.

Instructions: under ``valgrind --tool=callgrind --instr-atstart=no`` with
``OSTIARY_BENCH_CALLGRIND=1``, only the calls after the first 20 are counted.
"""

from __future__ import annotations

import asyncio
import gc
import os
import statistics
import subprocess
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from sqlalchemy import event

from bench import b_scim_patch as hb
from bench import scim_seed as s
from bench.b_request_cpu import _call
from ostiary.store.repositories import audit
from ostiary.web import app as web_app
from ostiary.web import logs

N = int(os.environ.get("OSTIARY_BENCH_N", "400"))
CALLGRIND = bool(os.environ.get("OSTIARY_BENCH_CALLGRIND"))
WARM = 20
Call = dict[str, Any]
_APPEND = audit.AuditLog.append_many  # unwrapped: each engine's run wraps it anew


def _waited() -> float:
    """Seconds this process's threads have spent runnable but not running."""
    total = 0
    for task in os.listdir("/proc/self/task"):
        try:
            total += int(Path(f"/proc/self/task/{task}/schedstat").read_text().split()[1])
        except OSError:
            continue
    return total / 1e9


def _instrument(engine: Any, now: Call) -> Any:
    """Time ``engine``'s statements and commits and this process's collections into
    ``now``; returns the GC callback (to remove after the run)."""

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        conn.info["t0"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn, cursor, statement, params, context, many):  # type: ignore[no-untyped-def]
        now["sql"][" ".join(statement.split())[:70]] += time.perf_counter() - conn.info["t0"]
        now["statements"] += 1

    def timed(label: str, fn: Any) -> Any:
        def wrapper(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return fn(*args)
            finally:
                now["sql"][label] += time.perf_counter() - start

        return wrapper

    engine.dialect.do_commit = timed("COMMIT", engine.dialect.do_commit)
    audit.AuditLog.append_many = timed("audit append (own cursor)", _APPEND)

    def collected(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            now["gc_start"] = time.perf_counter()
        else:
            now["gc"] += time.perf_counter() - now["gc_start"]

    gc.callbacks.append(collected)
    return collected


def _callgrind(state: str) -> None:
    if CALLGRIND:
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True)


def _run(engine: str) -> None:
    dep = s.deployment(engine)
    gid, outsider = hb.targets(dep)
    raised: dict[str, Any] = {"key_rate_per_second": 1e6, "ip_rate_per_second": 1e6}
    raised |= {"key_rate_burst": 10**6, "ip_rate_burst": 10**6}
    app = web_app.create_app(dep.settings.model_copy(update=raised))
    now: Call = {"sql": defaultdict(float), "statements": 0, "gc": 0.0}
    collected = _instrument(app.state.ctx.db.engine, now)
    headers = [(b"authorization", f"Bearer {dep.make_key().token}".encode())]
    headers.append((b"content-type", b"application/scim+json"))
    url = f"/scim/v2/Groups/{gid}?excludedAttributes=members"
    calls: list[Call] = []

    async def drive() -> None:
        for i in range(N):
            if i == WARM:
                _callgrind("on")
            now.update(sql=defaultdict(float), statements=0, gc=0.0)
            body = hb.body(i, outsider).encode()
            waited, cpu, start = _waited(), time.process_time(), time.perf_counter()
            status = await _call(app, ("PATCH", url, body, headers))
            wall = time.perf_counter() - start
            assert status in (200, 204), status
            now.update(wall=wall, cpu=time.process_time() - cpu, waited=_waited() - waited)
            calls.append(dict(now))
        _callgrind("off")

    asyncio.run(drive())
    gc.callbacks.remove(collected)
    _report(engine, calls)
    app.state.ctx.db.dispose()
    dep.db.dispose()


def _report(engine: str, calls: list[Call]) -> None:
    steady = calls[WARM:]
    cpu = [c["cpu"] * 1000 for c in steady]
    walls = sorted(c["wall"] * 1000 for c in steady)
    print(
        f"{engine}: statements per add / remove {steady[0]['statements']} / "
        f"{steady[1]['statements']} (plus the audit's own); CPU per call mean "
        f"{statistics.mean(cpu):.2f} ms, p50 {statistics.median(cpu):.2f} ms; wall p50 "
        f"{s.percentile(walls, 0.5):.1f} ms, p99 {s.percentile(walls, 0.99):.1f} ms "
        f"({len(steady)} calls after {WARM}); load {os.getloadavg()[0]:.1f}"
    )
    print("   first calls (ms): " + " ".join(f"{c['wall'] * 1000:.1f}" for c in calls[:8]))
    totals: dict[str, float] = defaultdict(float)
    for c in steady:
        for name, took in c["sql"].items():
            totals[name] += took
    for name, took in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"   {took / len(steady) * 1000:7.3f} ms per call  {name}")
    for i in sorted(range(len(calls)), key=lambda i: -calls[i]["wall"])[:6]:
        c = calls[i]
        top = sorted(c["sql"].items(), key=lambda kv: -kv[1])[:3]
        print(
            f"   call {i}: wall {c['wall'] * 1000:.1f}, CPU {c['cpu'] * 1000:.1f}, waiting "
            f"for a CPU {c['waited'] * 1000:.1f}, GC {c['gc'] * 1000:.1f} ms; "
            + "; ".join(f"{took * 1000:.1f} {name[:40]}" for name, took in top)
        )


def run() -> None:
    logs.configure("warning", True)
    for engine in s.ENGINES:
        _run(engine)
