"""What the audit event adds to concurrent SCIM creates, with both servers up at once.

Command: ``.venv/bin/python -m bench audit_ab`` (``OSTIARY_BENCH_ENGINES``, default
``sqlite,postgres``; ``OSTIARY_BENCH_PAIRS``, default 20; ``OSTIARY_BENCH_WINDOW``,
seconds of load per side and pair, default 4; ``OSTIARY_BENCH_WORKERS``, default 1, the
``ostiary serve`` default; ``OSTIARY_BENCH_AA=1`` runs the audit on both sides, to see the
method's own spread; ``OSTIARY_BENCH_USERS``, default 10,000;
``OSTIARY_BENCH_CHECKPOINT_EVERY``, the servers' checkpoint interval, default 10 s).

The production shape of ``bench audit_http`` (``ostiary serve`` against ``python -m
bench.noaudit_app``, wrk over 32 keep-alive connections, group commit), measured another
way. There each side runs for 10 s in its own server started on a fresh copy of the
directory, and a pair's two runs are ~30 s apart: this machine's speed moved the off side
alone between 365 and 561 us a create from one run to the next (2026-12-01), so a pair's
figure varied by +/-15 points and the median of a dozen pairs by several. Here both
servers start once, each on its own copy of the loaded directory, and stay up; the load
alternates between them in short windows (on, off, then off, on: ABBA), so the two halves
of a pair are seconds apart, and many pairs fit in minutes. Each window's figure is the
loaded server's CPU (granian workers, /proc; on PostgreSQL also the backends of its own
database) per user created in that window; the idle server costs next to nothing.

Printed per engine: each side's creates/s and CPU per create (totals over the windows),
the audit's share as the ratio of the totals with a 95% bootstrap interval over the pairs,
the median pair and the quartiles; then the same share over the whole run, which also
counts what the servers do between windows (the audit server's periodic checkpoints).
On PostgreSQL also each side's WAL a create and the checkpoints PostgreSQL made meanwhile.
Afterwards the rows are counted: the bench fails unless the audit side wrote one
``scim.user.create`` event per user it created and the other none.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import statistics
import time
import uuid
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from bench import scim_seed as s
from bench import wrk
from bench.b_audit_http import NO_AUDIT, _admin, _count, _drop_snapshot, _pristine, _snapshot
from bench.b_scim_create import CONNECTIONS, RAISED_LIMITS, _backends_cpu, _requests
from bench.loadgen import cpu_seconds

PAIRS = int(os.environ.get("OSTIARY_BENCH_PAIRS", "20"))
WINDOW = float(os.environ.get("OSTIARY_BENCH_WINDOW", "4"))
WORKERS = int(os.environ.get("OSTIARY_BENCH_WORKERS", "1"))
AA = os.environ.get("OSTIARY_BENCH_AA") == "1"
USERS = int(os.environ.get("OSTIARY_BENCH_USERS", "10000"))
# The audit server signs a checkpoint this often (seconds) when its tree grew. Each event
# is read once by the next checkpoint whatever the interval, so a short one changes
# only when that work happens: every few windows, instead of once or never in a run.
CHECKPOINT_EVERY = int(os.environ.get("OSTIARY_BENCH_CHECKPOINT_EVERY", "10"))
EVERY = str(CHECKPOINT_EVERY)
RESAMPLES = 2000
# wrk stops when its single-use requests run out: ~3,100 creates/s were seen here.
PER_WINDOW = int(6000 * WINDOW)
Window = tuple[float, int]  # a window's CPU seconds and the users created in it


@dataclass
class Side:
    audit: bool
    url: str
    pid: int = 0
    addr: str = ""
    created: int = 0  # in the measured windows
    cpu: float = 0.0  # seconds, in the measured windows
    whole: float = 0.0  # seconds, from the first window to past the last checkpoint
    server: float = 0.0  # seconds, of ``cpu``: the server's own (the rest, its backends')
    wal: int = 0  # PostgreSQL: WAL bytes written in the measured windows
    fpi: int = 0  # of which full-page images (count)


def run() -> None:
    s.N_USERS = USERS
    mode = "A/A (the audit on both sides)" if AA else "audit on / off"
    print(f"   {mode}; {WORKERS} worker(s) per server, {PAIRS} pairs of {WINDOW:g} s windows")
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        token = dep.make_key().token
        dep.db.dispose()
        _snapshot(engine)
        sides = [Side(True, _copy(engine, "on")), Side(AA, _copy(engine, "off"))]
        try:
            pairs, checkpoints = _measure(engine, dep, token, sides)
        finally:
            for name in ("on", "off"):
                _drop(engine, name)
            _drop_snapshot(engine)
        _summary(engine, sides, pairs, checkpoints)


def _measure(
    engine: str, dep: Any, token: str, sides: list[Side]
) -> tuple[list[tuple[Window, Window]], int]:
    """Both servers up, the load alternating between them; each pair's windows and how
    many PostgreSQL checkpoints fell in them."""
    tag = uuid.uuid4().hex[:8]
    served = 0
    before = [_count(engine, side.url) for side in sides]
    pairs: list[tuple[Window, Window]] = []
    with contextlib.ExitStack() as stack:
        for side in sides:
            info: dict[str, int] = {}
            target = SimpleNamespace(
                settings=SimpleNamespace(
                    database_url=side.url, master_key_file=dep.settings.master_key_file
                )
            )
            command = None if side.audit else NO_AUDIT
            env = {
                **RAISED_LIMITS,
                "OSTIARY_AUDIT_CHECKPOINT_INTERVAL_SECONDS": str(CHECKPOINT_EVERY),
            }
            side.addr = stack.enter_context(
                s.served(target, WORKERS, info, env, command)  # type: ignore[arg-type]
            )
            side.pid = info["pid"]
        for side in sides:  # warm-up: caches, connections, the key's first verification
            with contextlib.suppress(RuntimeError):
                wrk.run(side.addr, _requests(token, tag, served, 2000), seconds=1,
                        connections=CONNECTIONS, once=True)  # fmt: skip
            served += 2000
        started = [_cpu(engine, side) for side in sides]
        checkpoints = _checkpoints(engine)
        for i in range(PAIRS):
            figures = {}
            for side in sides if i % 2 == 0 else sides[::-1]:
                figures[id(side)] = _window(engine, side, _requests(token, tag, served, PER_WINDOW))
                served += PER_WINDOW
            pairs.append((figures[id(sides[0])], figures[id(sides[1])]))
        checkpoints = _checkpoints(engine) - checkpoints
        time.sleep(CHECKPOINT_EVERY + 2)  # the last windows' events reach a checkpoint
        for side, cpu in zip(sides, started, strict=True):
            side.whole = _cpu(engine, side) - cpu
    for side, counts in zip(sides, before, strict=True):
        _check(engine, side, counts)
    return pairs, checkpoints


def _cpu(engine: str, side: Side) -> float:
    """``side``'s CPU seconds so far: its server and, on PostgreSQL, its database's backends."""
    return cpu_seconds(side.pid) + _backends_cpu(engine, _database(side.url))


def _window(engine: str, side: Side, requests: list[bytes]) -> Window:
    """Load ``side`` for one window: its CPU (s) and the users it created."""
    wal = _wal(engine)
    before, own = _cpu(engine, side), cpu_seconds(side.pid)
    r = wrk.run(side.addr, requests, seconds=WINDOW, connections=CONNECTIONS, once=True)
    cpu = _cpu(engine, side) - before
    side.server += cpu_seconds(side.pid) - own
    written, images = (b - a for a, b in zip(wal, _wal(engine), strict=True))
    side.wal, side.fpi = side.wal + written, side.fpi + images
    created = r["statuses"].get(201, 0)
    if created == 0 or set(r["statuses"]) != {201}:
        raise SystemExit(f"a window answered {r['statuses']}")
    side.created += created
    side.cpu += cpu
    return cpu, created


def _wal(engine: str) -> tuple[int, int]:
    """PostgreSQL's WAL bytes and full-page images so far (the whole cluster: in a window
    only the loaded side writes, but for the idle one's periodic checkpoint)."""
    row = _cluster(engine, "SELECT wal_bytes::bigint, wal_fpi FROM pg_stat_wal")
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _checkpoints(engine: str) -> int:
    """PostgreSQL's checkpoints so far (timed and requested: a busy run fills max_wal_size)."""
    row = _cluster(engine, "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")
    return int(row[0]) if row else 0


def _cluster(engine: str, sql: str) -> tuple[Any, ...] | None:
    """One row of a PostgreSQL statistics view (None on SQLite)."""
    if engine != "postgres":
        return None
    import psycopg

    with psycopg.connect(s.PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        return conn.execute(sql).fetchone()


def _summary(
    engine: str, sides: list[Side], pairs: list[tuple[Window, Window]], checkpoints: int
) -> None:
    on, off = sides
    ratios = sorted((_per(a) / _per(b) - 1) * 100 for a, b in pairs)
    share = _share(pairs, [1] * len(pairs))
    rng = random.Random(0)
    boot = sorted(_share(pairs, _draws(rng, len(pairs))) for _ in range(RESAMPLES))
    low, high = boot[int(0.025 * RESAMPLES)], boot[int(0.975 * RESAMPLES) - 1]
    quartiles = (  # as audit_http: one pair is its own quartiles
        statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) > 1 else ratios * 3
    )
    seconds = WINDOW * len(pairs)
    print(
        f"{engine} POST /Users, {'A/A' if AA else 'audit on / off'} ({USERS:,}-user directory, "
        f"{CONNECTIONS} connections, {WORKERS} worker(s), {len(pairs)} pairs of {WINDOW:g} s): "
        f"{on.created / seconds:,.0f} / {off.created / seconds:,.0f} creates/s; CPU per create "
        f"{on.cpu / on.created * 1e6:,.0f} / {off.cpu / off.created * 1e6:,.0f} us; "
        f"audit adds {share:+.1f}% (95% interval {low:+.1f} to {high:+.1f}); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(
        f"   {engine} pairs (sorted): {', '.join(f'{r:+.1f}' for r in ratios)}%; median "
        f"{quartiles[1]:+.1f}%, quartiles {quartiles[0]:+.1f} / {quartiles[2]:+.1f}%"
    )
    # The windows leave out what a server does between them: the audit server's periodic
    # checkpoints (each reads every event signed since the previous one) and both
    # servers' idle upkeep. The whole run counts it all, idle time included.
    whole = (on.whole / on.created) / (off.whole / off.created) - 1
    print(
        f"   {engine} whole run (checkpoints every {CHECKPOINT_EVERY} s and idle time "
        f"included): CPU per create {on.whole / on.created * 1e6:,.0f} / "
        f"{off.whole / off.created * 1e6:,.0f} us; audit adds {whole * 100:+.1f}%"
    )
    if engine == "postgres":
        print(
            f"   {engine} of which the servers: {on.server / on.created * 1e6:,.0f} / "
            f"{off.server / off.created * 1e6:,.0f} us a create; their databases' backends: "
            f"{(on.cpu - on.server) / on.created * 1e6:,.0f} / "
            f"{(off.cpu - off.server) / off.created * 1e6:,.0f} us"
        )
        # The database's share beyond CPU: what each create makes PostgreSQL write and
        # later flush and archive. A page's first change after a checkpoint writes its
        # whole image; a busy run fills max_wal_size (1 GB here) about once a minute, so
        # the audit's own WAL also makes checkpoints (and their images) come sooner.
        print(
            f"   {engine} WAL a create: {on.wal / on.created:,.0f} / {off.wal / off.created:,.0f}"
            f" bytes, full-page images {on.fpi / on.created:.2f} / "
            f"{off.fpi / off.created:.2f}; {checkpoints} PostgreSQL checkpoint(s) in the windows"
        )
    raw = s.ROOT / f"audit_ab-{engine}.json"
    whole_run = [(side.whole, side.created) for side in sides]
    raw.write_text(
        json.dumps(
            {"workers": WORKERS, "window": WINDOW, "aa": AA, "pairs": pairs, "whole": whole_run}
        )
    )
    print(f"   {engine} windows (CPU s, creates) written to {raw}")


def _per(window: Window) -> float:
    return window[0] / window[1]


def _share(pairs: list[tuple[Window, Window]], weights: list[int]) -> float:
    """The on side's CPU per create over the off side's, less one (%), from the totals of
    the pairs' windows, each pair counted ``weights[i]`` times (a bootstrap resample
    draws a pair as often as its weight). Totals, not a mean of the windows' figures: a
    window that stalled (one read 9x its pair, 2026-12-01) weighs by the users it made."""
    on_cpu = on_n = off_cpu = off_n = 0.0
    for w, (a, b) in zip(weights, pairs, strict=True):
        on_cpu, on_n = on_cpu + w * a[0], on_n + w * a[1]
        off_cpu, off_n = off_cpu + w * b[0], off_n + w * b[1]
    return (on_cpu / on_n / (off_cpu / off_n) - 1) * 100


def _draws(rng: random.Random, n: int) -> list[int]:
    """How often each of ``n`` pairs is drawn in one bootstrap resample."""
    counts = [0] * n
    for _ in range(n):
        counts[rng.randrange(n)] += 1
    return counts


def _copy(engine: str, name: str) -> str:
    """A copy of the loaded directory for one side; its database URL."""
    if engine == "sqlite":
        path = s.ROOT / "sqlite" / f"ab-{name}.db"
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(_pristine(engine), path)
        return f"sqlite:///{path}"
    db = f"{s.PG_DB}_{name}"
    _admin(
        f'DROP DATABASE IF EXISTS "{db}"', f'CREATE DATABASE "{db}" TEMPLATE "{_pristine(engine)}"'
    )
    return s.url_for(engine).rsplit("/", 1)[0] + f"/{db}"


def _drop(engine: str, name: str) -> None:
    if engine == "sqlite":
        path = s.ROOT / "sqlite" / f"ab-{name}.db"
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        return
    _admin(f'DROP DATABASE IF EXISTS "{s.PG_DB}_{name}" WITH (FORCE)')


def _database(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _check(engine: str, side: Side, before: tuple[int, int]) -> None:
    """The switch took: one creation event per user the side created, or none."""
    users, events = (a - b for a, b in zip(_count(engine, side.url), before, strict=True))
    if users < side.created or events != (users if side.audit else 0):
        raise SystemExit(
            f"{engine} audit {'on' if side.audit else 'off'}: +{users} users, +{events} "
            f"scim.user.create rows, {side.created} created in the measured windows"
        )
