"""What both token benchmarks share: the served deployment, the rate-limit settings of
the run, wrk, and the report (rate, latency, statuses, server CPU per token).

Rate limits: the defaults (50 requests/s per IP and per key, burst 100) would refuse a
load generator on 127.0.0.1 after its first 100 requests, so these runs raise the per-IP
and per-key request limits by environment variables (printed with the result). The
failed-authentication locks keep their defaults; no request of the run fails
authentication. The limiter still runs on every request: it just never refuses.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import wrk
from bench.loadgen import cpu_seconds, served_deployment

Switches = tuple[int, int]  # voluntary, involuntary context switches

SECONDS = float(os.environ.get("OSTIARY_BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("OSTIARY_BENCH_CONNECTIONS", "32"))
WORKERS = int(os.environ.get("OSTIARY_BENCH_WORKERS", "2"))
# "info": the access log is on, as ``ostiary serve`` runs by default.
LOG_LEVEL = os.environ.get("OSTIARY_BENCH_LOG_LEVEL", "info")
LIMITS = {
    "OSTIARY_IP_RATE_PER_SECOND": "1000000",
    "OSTIARY_IP_RATE_BURST": "1000000",
    "OSTIARY_KEY_RATE_PER_SECOND": "1000000",
    "OSTIARY_KEY_RATE_BURST": "1000000",
}


@contextmanager
def deployment(extra: dict[str, str] | None = None) -> Iterator[tuple[str, int, dict, Path]]:
    env = LIMITS | (extra or {})
    with served_deployment(WORKERS, log_level=LOG_LEVEL, extra_env=env) as dep:
        yield dep


def measure(env: dict[str, str], port: int, requests: list[bytes], *, once: bool) -> tuple:
    server = int(env["_BENCH_SERVER_PID"])
    before, switched = cpu_seconds(server), _switches(server)
    result = wrk.run(
        f"127.0.0.1:{port}", requests, seconds=SECONDS, connections=CONNECTIONS, once=once
    )
    after = _switches(server)
    result["switches"] = (after[0] - switched[0], after[1] - switched[1])
    return result, cpu_seconds(server) - before


def _switches(root: int) -> Switches:
    """Context switches of the server's processes and all their threads: a thread
    hand-off per request shows here whatever the machine's load."""
    voluntary = involuntary = 0
    pids = [root]
    while pids:
        pid = pids.pop()
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                for line in (task / "status").read_text().splitlines():
                    name, _, value = line.partition(":")
                    if name == "voluntary_ctxt_switches":
                        voluntary += int(value)
                    elif name == "nonvoluntary_ctxt_switches":
                        involuntary += int(value)
            pids.extend(
                int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            )
        except OSError:
            continue
    return voluntary, involuntary


def report(name: str, target: int, result: dict[str, Any], cpu: float, extra: dict) -> None:
    ok = result["statuses"].get(200, 0)
    rate = ok / result["seconds"] if result["seconds"] else 0.0
    verdict = "met" if rate >= target else "NOT met"
    print(
        f"{name}: {rate:,.0f} tokens/s (200s only; target {target:,}: {verdict}) over "
        f"{result['seconds']:.1f} s, wrk 1 thread, {CONNECTIONS} connections, "
        f"granian {WORKERS} workers, SQLite, log level {LOG_LEVEL}; statuses "
        f"{result['statuses']}, socket errors {result['socket_errors']}; latency p50 "
        f"{result['p50_ms']:.1f} ms, p99 {result['p99_ms']:.1f} ms; server CPU {cpu:.1f} s "
        f"= {cpu / max(ok, 1) * 1e6:,.0f} us per token; context switches per token "
        f"{result['switches'][0] / max(ok, 1):.2f} voluntary, "
        f"{result['switches'][1] / max(ok, 1):.2f} involuntary; load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    settings = LIMITS | extra
    print("  settings raised for this run: " + ", ".join(f"{k}={v}" for k, v in settings.items()))
