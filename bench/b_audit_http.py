"""What the audit event adds to concurrent SCIM creates over HTTP (target: under 10%).

Command: ``.venv/bin/python -m bench audit_http`` (``OSTIARY_BENCH_ENGINES``, default
``sqlite,postgres``; ``OSTIARY_BENCH_USERS``, default 10,000 here; ``OSTIARY_BENCH_SECONDS``,
default 10; ``OSTIARY_BENCH_PAIRS``, default 3; ``OSTIARY_BENCH_DIR`` and
``OSTIARY_BENCH_PG_DB`` as for the other ``scim_*`` benches; ``OSTIARY_BENCH_WORKERS``,
default 2). ``bench audit_ab`` measures the same with both servers up at once.

The production shape of bench audit_scim (which it complements: that one hands one request
at a time to the app in process): bench scim_create's POST /Users run, ``ostiary serve``
(granian, 2 workers unless told) loaded by wrk over 32 keep-alive connections, so the SCIM create
group commit batches the creates and appends their events with one ``append_many`` per
batch. Runs alternate: audit on (``ostiary serve``), off (``python -m bench.noaudit_app``:
the same command with granian pointed at an app whose ``AuditLog`` is bench audit_scim's
no-op), then off, on, and so on (each pair's order alternates). Each run starts from the
same copy of the loaded directory, so both sides create into a directory of the same
size. After each run the audit rows are counted: the bench fails unless the on side wrote
one per created user and the off side none.

Printed per engine: creates/s, the server's CPU per create (granian workers; on
PostgreSQL also its backends, and the sum), and the audit's added CPU per create (median
over the on/off pairs), with the load average; then every pair's figure and their quartiles.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import statistics
import sys
import uuid
from dataclasses import dataclass
from typing import Any

from bench import scim_seed as s
from bench import wrk
from bench.b_scim_create import (
    CONNECTIONS,
    RAISED_LIMITS,
    SECONDS,
    _backends_cpu,
    _requests,
    _vacuum,
)
from bench.loadgen import cpu_seconds

PAIRS = int(os.environ.get("OSTIARY_BENCH_PAIRS", "3"))
# 2 by default, as since session 11 (the `ostiary serve` default is 1; bench audit_ab's too).
WORKERS = int(os.environ.get("OSTIARY_BENCH_WORKERS", "2"))
USERS = int(os.environ.get("OSTIARY_BENCH_USERS", "10000"))
# wrk stops when single-use requests run out: ~2,600 creates/s were seen on SQLite here.
BUILT = int(os.environ.get("OSTIARY_BENCH_CREATE_REQUESTS", str(int(6000 * SECONDS))))
NO_AUDIT = [sys.executable, "-m", "bench.noaudit_app"]


@dataclass
class Run:
    rate: float  # creates/s
    server_us: float  # granian CPU per create
    db_us: float  # PostgreSQL backends' CPU per create (0 on SQLite)

    @property
    def total_us(self) -> float:
        return self.server_us + self.db_us


def run() -> None:
    s.N_USERS = USERS  # a small directory by default: every run restores a copy of it
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        token = dep.make_key().token
        dep.db.dispose()
        _snapshot(engine)
        runs: dict[bool, list[Run]] = {True: [], False: []}
        try:
            for i in range(PAIRS):
                # on, off / off, on / ...: a drift of the machine's speed during the
                # runs (minutes of it were seen moving CPU per create by 5-10%) falls on
                # both sides alike instead of always on the first of each pair.
                for audit in (True, False) if i % 2 == 0 else (False, True):
                    runs[audit].append(_run(engine, dep, token, audit))
        finally:
            _restore(engine)
            _drop_snapshot(engine)
        _summary(engine, runs[True], runs[False])


def _run(engine: str, dep: Any, token: str, audit: bool) -> Run:
    _restore(engine)
    _vacuum(engine)
    tag = uuid.uuid4().hex[:8]
    warm, timed = _requests(token, tag, 0, 2000), _requests(token, tag, 2000, BUILT)
    users_before, events_before = _count(engine)
    info: dict[str, int] = {}
    command = None if audit else NO_AUDIT
    with s.served(dep, WORKERS, info, RAISED_LIMITS, command) as addr:
        with contextlib.suppress(RuntimeError):  # warm-up: running out early is fine
            wrk.run(addr, warm, seconds=1, connections=CONNECTIONS, once=True)
        cpu_before, db_before = cpu_seconds(info["pid"]), _backends_cpu(engine)
        r = wrk.run(addr, timed, seconds=SECONDS, connections=CONNECTIONS, once=True)
        cpu = cpu_seconds(info["pid"]) - cpu_before
        db_cpu = _backends_cpu(engine) - db_before
    users, events = (
        after - before
        for after, before in zip(_count(engine), (users_before, events_before), strict=True)
    )
    created = r["statuses"].get(201, 0)
    per = 1e6 / max(created, 1)
    out = Run(created / r["seconds"], cpu * per, db_cpu * per)
    print(
        f"   {engine} audit {'on ' if audit else 'off'}: {out.rate:,.0f} creates/s, "
        f"statuses {r['statuses']}; CPU per create: server {out.server_us:,.0f} us"
        + (f", PostgreSQL {out.db_us:,.0f} us" if engine == "postgres" else "")
        + f"; users +{users:,}, scim.user.create audit rows +{events:,}; "
        f"load {os.getloadavg()[0]:.1f}"
    )
    # The switch must have taken: one event per user created with the audit on, none off.
    if users == 0 or events != (users if audit else 0):
        raise SystemExit(f"audit {'on' if audit else 'off'}: {users} users, {events} audit rows")
    return out


def _summary(engine: str, on: list[Run], off: list[Run]) -> None:
    med = statistics.median
    pairs = zip(on, off, strict=True)
    ratios = sorted((a.total_us - b.total_us) / b.total_us * 100 for a, b in pairs)
    added = med(ratios)
    server = med(
        (a.server_us - b.server_us) / b.server_us * 100 for a, b in zip(on, off, strict=True)
    )
    db = ""
    if engine == "postgres":
        db = (
            f", PostgreSQL {med(r.db_us for r in on):,.0f} / {med(r.db_us for r in off):,.0f} us"
            f", sum {med(r.total_us for r in on):,.0f} / {med(r.total_us for r in off):,.0f} us"
        )
    print(
        f"{engine} POST /Users, audit on / off ({USERS:,}-user directory, {CONNECTIONS} "
        f"connections, {WORKERS} worker(s), {SECONDS:.0f} s, median of {len(on)} pairs): "
        f"{med(r.rate for r in on):,.0f} / {med(r.rate for r in off):,.0f} creates/s; CPU per "
        f"create: server {med(r.server_us for r in on):,.0f} / "
        f"{med(r.server_us for r in off):,.0f} us{db}; audit adds {added:.1f}% "
        f"(server alone {server:.1f}%); load average {os.getloadavg()[0]:.1f}"
    )
    # The pairs' spread: one pair varies by several points (an A/A run, both sides on,
    # read -4.4% to +4.1%; docs/performance.md, session 15), so the median needs many.
    quartiles = (
        statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
    )
    print(
        f"   {engine} pairs (sorted): {', '.join(f'{r:+.1f}' for r in ratios)}%; "
        f"quartiles {quartiles[0]:+.1f} / {quartiles[1]:+.1f} / {quartiles[2]:+.1f}%"
    )


def _count(engine: str, url: str | None = None) -> tuple[int, int]:
    """Users and their creation events in ``url``'s database (default: the bench
    directory; server stopped: nothing in flight). Each server start also audits its new
    signing keys, with the audit on or off (not the SCIM path), so only the SCIM create
    events are counted."""
    sql = (
        "SELECT count(*) FROM users",
        "SELECT count(*) FROM audit_events WHERE action = 'scim.user.create'",
    )
    url = url or s.url_for(engine)
    if engine == "sqlite":
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            return tuple(conn.execute(q).fetchone()[0] for q in sql)
    import psycopg

    with psycopg.connect(url.replace("+psycopg", "")) as pg:
        return tuple(pg.execute(q).fetchone()[0] for q in sql)  # type: ignore[index]


# The copy each run starts from: a file beside the SQLite database, a template database
# on PostgreSQL (CREATE DATABASE ... TEMPLATE copies it whole).
def _pristine(engine: str) -> str:
    return str(s.ROOT / "sqlite" / "pristine.db") if engine == "sqlite" else f"{s.PG_DB}_pristine"


def _admin(*statements: str) -> None:
    import psycopg

    with psycopg.connect(s.PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        for sql in statements:
            conn.execute(sql)


def _snapshot(engine: str) -> None:
    if engine == "sqlite":
        db = s.ROOT / "sqlite" / "scim.db"
        with contextlib.closing(sqlite3.connect(db)) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        shutil.copyfile(db, _pristine(engine))
        return
    _vacuum(engine)
    _admin(
        f'DROP DATABASE IF EXISTS "{_pristine(engine)}"',
        f'CREATE DATABASE "{_pristine(engine)}" TEMPLATE "{s.PG_DB}"',
    )


def _restore(engine: str) -> None:
    if engine == "sqlite":
        db = s.ROOT / "sqlite" / "scim.db"
        for suffix in ("-wal", "-shm"):
            db.with_name(db.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(_pristine(engine), db)
        return
    _admin(
        f'DROP DATABASE "{s.PG_DB}" WITH (FORCE)',
        f'CREATE DATABASE "{s.PG_DB}" TEMPLATE "{_pristine(engine)}"',
    )


def _drop_snapshot(engine: str) -> None:
    if engine == "sqlite":
        os.unlink(_pristine(engine))
    else:
        _admin(f'DROP DATABASE "{_pristine(engine)}"')
