"""Server-side cost of authenticating a bearer provisioning key (HTTP excluded).

Command: ``.venv/bin/python -m bench key_auth``. Against a real SQLite deployment in a
temporary directory it measures, per call:

- ``verify (cold)``: parse + checksum + one database read + HMAC + compare (cache off);
- ``verify (warm)``: the same with the record in the in-process cache (the target);
- ``authenticate (warm)``: everything ``web.scim.auth.authenticate`` does for a SCIM
  request once the request object exists: per-IP and failed-auth limits, verify, DPoP
  and CIDR checks, per-key limit, last-use bookkeeping and anomaly checks.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from starlette.requests import Request
from tests.support.deploy import deploy

from ostiary.core.clock import SystemClock
from ostiary.keys.verify import CachedKeyReader, KeyVerifier
from ostiary.store import bootstrap
from ostiary.web.app import create_app
from ostiary.web.context import DbKeyReader
from ostiary.web.scim.auth import authenticate

ROUNDS = 20_000


def _measure(name: str, fn: Callable[[], object], rounds: int = ROUNDS) -> None:
    for _ in range(500):
        fn()
    samples = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    print(f"{name}: p50 {p50 / 1000:.1f} us, p99 {p99 / 1000:.1f} us over {rounds} calls")


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        # Limits high enough that the benchmark measures the work, not 429s.
        dep = deploy(
            f"sqlite:///{Path(tmp) / 'bench.db'}",
            Path(tmp),
            key_rate_per_second=1e9,
            key_rate_burst=10**9,
            ip_rate_per_second=1e9,
            ip_rate_burst=10**9,
        )
        token = dep.make_key().token
        pepper = bootstrap.load_pepper(dep.db, bootstrap.open_vault(dep.settings, dep.db))
        clock = SystemClock()
        cold = KeyVerifier(DbKeyReader(dep.db), pepper, clock)
        _measure("verify (cold, database read)", lambda: cold.verify(token), 5_000)
        warm = KeyVerifier(CachedKeyReader(DbKeyReader(dep.db), clock, ttl=60.0), pepper, clock)
        _measure("verify (warm cache)", lambda: warm.verify(token))
        app = create_app(dep.settings)
        scope = {
            "type": "http",
            "app": app,
            "method": "GET",
            "path": "/scim/v2/Users/x",
            "headers": [(b"authorization", f"Bearer {token}".encode())],
            "client": ("192.0.2.1", 40000),
            "query_string": b"",
        }
        app.state.ctx.key_runtime.cache._ttl = 60.0
        _measure(
            "authenticate (warm, all checks)", lambda: authenticate(Request(scope), "users:read")
        )
        app.state.ctx.db.dispose()
        dep.db.dispose()
