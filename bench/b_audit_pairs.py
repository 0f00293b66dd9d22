"""What the audit event adds to a SCIM create, in CPU time, request by request.

Command: ``.venv/bin/python -m bench audit_pairs``. The same app and off side as ``bench
audit_scim`` (``audit_off``), but the two sides alternate at every request
(on-off, then off-on: ABBA) instead of in blocks of 50, so the machine's drift (this
machine's speed moved by up to ~20% between blocks, docs/performance.md) falls on both
sides of each pair alike. Each create's cost is the CPU time of the whole process while
it ran (``process_time``: user and system time of every thread, so the kernel's work for
the WAL frames and the group commit's worker thread count; callgrind counts neither the
kernel nor SHA-256 at its native speed). A WAL checkpoint or a garbage collection is
charged to the request it fell in: the means keep them, the medians do not.

Each side has its own deployment (database, engine, app; session 14): with one shared
database the WAL checkpoints the audit's pages bring forward fell on either side, so half
of them were charged to the off side. What still falls on both sides alike is whatever
the audit leaves behind in the process (caches, the allocator): so this measures the
audit's direct cost, and separate processes (``bench audit_http``, one per side) the
whole of it; docs/performance.md, session 14.

Reports the mean and median per create on each side, the audit's share of the mean with
a 95% bootstrap interval over the pairs, and the same for the wall time.
"""

from __future__ import annotations

import asyncio
import gc
import os
import random
import statistics
import tempfile
import time
from typing import Any

import orjson

from bench.b_audit_scim import USER, _call, audit_off, served

PAIRS = int(os.environ.get("OSTIARY_BENCH_PAIRS", "5000"))
WARM = 500
RESAMPLES = 2000


def _body(name: str) -> bytes:
    return orjson.dumps(
        {
            "schemas": [USER],
            "userName": f"{name}@example.com",
            "name": {"givenName": "Bench", "familyName": name},
        }
    )


async def _one(app: Any, headers: list[tuple[bytes, bytes]], name: str) -> tuple[int, int]:
    cpu, wall = time.process_time_ns(), time.perf_counter_ns()
    status = await _call(app, headers, _body(name))
    cpu, wall = time.process_time_ns() - cpu, time.perf_counter_ns() - wall
    assert status == 201, status
    return cpu, wall


async def _side(app: Any, headers: list[tuple[bytes, bytes]], name: str, on: bool) -> Any:
    if on:
        return await _one(app, headers, name)
    with audit_off():
        return await _one(app, headers, name)


Side = tuple[Any, list[tuple[bytes, bytes]]]  # an app and its key's headers


async def _pairs(with_audit: Side, without: Side) -> list[tuple[Any, Any]]:
    (app, headers), (off_app, off_headers) = with_audit, without
    for i in range(WARM):
        await _side(app, headers, f"warm-{i}", True)
        await _side(off_app, off_headers, f"warm-off-{i}", False)
    gc.collect()
    gc.freeze()  # as a served worker does after start-up (web.app.create_app_from_env)
    pairs = []
    for i in range(PAIRS):
        if i % 2 == 0:
            on = await _side(app, headers, f"a{i}", True)
            off = await _side(off_app, off_headers, f"n{i}", False)
        else:
            off = await _side(off_app, off_headers, f"n{i}", False)
            on = await _side(app, headers, f"a{i}", True)
        pairs.append((on, off))
    return pairs


def _share(on: list[int], off: list[int]) -> tuple[float, float, float]:
    """The audit's share of the off side's mean, and a 95% bootstrap interval (pairs
    resampled together, so the drift they share stays paired)."""
    rng = random.Random(5)
    n = len(on)
    shares = []
    for _ in range(RESAMPLES):
        picks = [rng.randrange(n) for _ in range(n)]
        a, b = sum(on[i] for i in picks), sum(off[i] for i in picks)
        shares.append((a - b) / b)
    shares.sort()
    point = (sum(on) - sum(off)) / sum(off)
    return point, shares[int(0.025 * RESAMPLES)], shares[int(0.975 * RESAMPLES)]


def _report(label: str, on: list[int], off: list[int]) -> None:
    point, lo, hi = _share(on, off)
    m_on, m_off = statistics.mean(on) / 1e6, statistics.mean(off) / 1e6
    d_on, d_off = statistics.median(on) / 1e6, statistics.median(off) / 1e6
    print(
        f"{label}: mean with audit {m_on:.3f} ms, without {m_off:.3f} ms: audit adds "
        f"{point * 100:.1f}% (95% interval {lo * 100:.1f} to {hi * 100:.1f}); median "
        f"{d_on:.3f} vs {d_off:.3f} ms ({(d_on - d_off) / d_off * 100:+.1f}%)"
    )


def run() -> None:
    with tempfile.TemporaryDirectory() as on_dir, tempfile.TemporaryDirectory() as off_dir:
        dep, app, headers = served(on_dir)
        off_dep, off_app, off_headers = served(off_dir)
        pairs = asyncio.run(_pairs((app, headers), (off_app, off_headers)))
        print(f"SCIM create, {len(pairs)} pairs (ABBA), load {os.getloadavg()[0]:.1f}")
        _report("CPU", [p[0][0] for p in pairs], [p[1][0] for p in pairs])
        _report("wall", [p[0][1] for p in pairs], [p[1][1] for p in pairs])
        for d, a in ((dep, app), (off_dep, off_app)):
            a.state.ctx.db.dispose()
            d.db.dispose()
