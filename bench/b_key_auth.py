"""Server-side cost of authenticating a bearer provisioning key (HTTP excluded).

Command: ``.venv/bin/python -m bench key_auth``. Measures ``KeyVerifier.verify`` against a
real SQLite deployment in a temporary directory: parse + checksum + lookup + HMAC + compare.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from tests.support.deploy import deploy

from ostiary.core.clock import SystemClock
from ostiary.keys.verify import KeyVerifier
from ostiary.store import bootstrap
from ostiary.web.context import DbKeyReader

ROUNDS = 20_000


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dep = deploy(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp))
        token = dep.make_key().token
        pepper = bootstrap.load_pepper(dep.db, bootstrap.open_vault(dep.settings, dep.db))
        verifier = KeyVerifier(DbKeyReader(dep.db), pepper, SystemClock())
        for _ in range(500):
            verifier.verify(token)
        samples = []
        for _ in range(ROUNDS):
            start = time.perf_counter_ns()
            verifier.verify(token)
            samples.append(time.perf_counter_ns() - start)
        samples.sort()
        p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
        print(f"verify: p50 {p50 / 1000:.1f} us, p99 {p99 / 1000:.1f} us over {ROUNDS} calls")
        dep.db.dispose()
