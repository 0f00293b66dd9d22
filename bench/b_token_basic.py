"""client_credentials token issuance with client_secret_basic, over HTTP (issue 4 point 6).

Command: ``.venv/bin/python -m bench token_basic``. Serves Ostiary with granian (2 workers,
SQLite, access log on) and drives ``POST /token`` with wrk (``bench/wrk.py``) on the same
machine, one pre-built request (the provisioning key as the client secret) sent over and
over. Target: at least 3,400 tokens per second. The per-IP and per-key rate limits are
raised by environment variables for the run (``bench/token_bench.py``; printed).
``OSTIARY_BENCH_SECONDS`` (10), ``OSTIARY_BENCH_CONNECTIONS`` (32),
``OSTIARY_BENCH_WORKERS`` (2) and ``OSTIARY_BENCH_LOG_LEVEL`` (info) vary the run.
"""

from __future__ import annotations

import subprocess
from urllib.parse import urlencode

import orjson
from tests.support.oauth import basic
from tests.support.server import OSTIARY

from bench import token_bench, wrk
from bench.loadgen import form_request

TARGET = 3_400


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
    with token_bench.deployment() as (_host, port, env, tmp):
        key_id, token = make_key(env, tmp)
        body = urlencode({"grant_type": "client_credentials"}).encode()
        request = form_request(port, body, basic(key_id, token))
        addr = f"127.0.0.1:{port}"
        wrk.run(addr, [request], seconds=2, connections=token_bench.CONNECTIONS)  # warm up
        result, cpu = token_bench.measure(env, port, [request], once=False)
        token_bench.report("client_secret_basic", TARGET, result, cpu, {})
