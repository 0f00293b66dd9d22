"""client_credentials token issuance with client_secret_basic, over HTTP (issue 4 point 6).

Command: ``.venv/bin/python -m bench token_basic``. Serves Ostiary with granian (2 workers,
SQLite) and drives ``POST /token`` from a closed-loop asyncio client on the same machine.
Target: at least 3,400 tokens per second.
"""

from __future__ import annotations

import subprocess
from urllib.parse import urlencode

import orjson
from tests.support.oauth import basic
from tests.support.server import OSTIARY

from bench.loadgen import cpu_seconds, form_request, run_load, served_deployment

SECONDS = 5
CONNECTIONS = 32


def make_key(env: dict[str, str], tmp) -> tuple[str, str]:
    out = subprocess.run(
        [OSTIARY, "keys", "create", "--name", "bench", "--scope", "users:read", "--json"],
        env=env,
        capture_output=True,
        check=True,
        cwd=tmp,
    )
    doc = orjson.loads(out.stdout)
    return doc["id"], doc["key"]


def run() -> None:
    with served_deployment() as (host, port, env, tmp):
        key_id, token = make_key(env, tmp)
        body = urlencode({"grant_type": "client_credentials"}).encode()
        request = form_request(port, body, basic(key_id, token))
        run_load(host, port, lambda: request, seconds=2, connections=CONNECTIONS)  # warm up
        server = int(env["_BENCH_SERVER_PID"])
        cpu_before = cpu_seconds(server)
        rate, stats = run_load(
            host, port, lambda: request, seconds=SECONDS, connections=CONNECTIONS
        )
        cpu = cpu_seconds(server) - cpu_before
        print(
            f"client_secret_basic: {rate:,.0f} tokens/s over {SECONDS}s, "
            f"{CONNECTIONS} connections, statuses {dict(stats)}; server CPU "
            f"{cpu:.1f}s = {sum(stats.values()) / max(cpu, 1e-9):,.0f} tokens per CPU-second"
        )
