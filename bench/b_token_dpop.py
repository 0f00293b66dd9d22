"""client_credentials with private_key_jwt + DPoP, over HTTP (issue 4 point 6).

Command: ``.venv/bin/python -m bench token_dpop``. Serves Ostiary with granian (2 workers,
SQLite), registers an ES256 client key on a provisioning key, and drives ``POST /token``
with single-use client assertions and DPoP proofs signed before the timed run (a real
client signs them too; here that CPU is kept off the server's cores). Target: at least
1,000 tokens per second.
"""

from __future__ import annotations

import json
import subprocess
import time
from itertools import count
from urllib.parse import urlencode

from tests.support.oauth import assertion_form, client_assertion, dpop_proof, ec_key
from tests.support.server import OSTIARY

from bench.b_token_basic import CONNECTIONS, make_key
from bench.loadgen import cpu_seconds, form_request, run_load, served_deployment

SECONDS = 5
PREBUILT = 12_000


def run() -> None:
    with served_deployment() as (host, port, env, tmp):
        key_id, _token = make_key(env, tmp)
        client_key, proof_key = ec_key(), ec_key()
        jwk_file = tmp / "client.json"
        jwk_file.write_text(json.dumps(client_key.as_dict(private=False)))
        subprocess.run(
            [OSTIARY, "key-oauth", "set", key_id, "--jwk", str(jwk_file), "--require-dpop"],
            env=env,
            check=True,
            capture_output=True,
            cwd=tmp,
        )
        issuer = f"http://127.0.0.1:{port}"
        now = int(time.time())
        requests = []
        for _ in range(PREBUILT):
            assertion = client_assertion(client_key, key_id, issuer, now=now, lifetime=120)
            body = urlencode(assertion_form(assertion)).encode()
            proof = dpop_proof(proof_key, "POST", f"{issuer}/token", iat=now)
            requests.append(form_request(port, body, {"DPoP": proof}))
        it = count()

        def make() -> bytes:
            return requests[next(it) % PREBUILT]

        run_load(host, port, make, seconds=1, connections=CONNECTIONS)  # warm up
        server = int(env["_BENCH_SERVER_PID"])
        cpu_before = cpu_seconds(server)
        server = int(env["_BENCH_SERVER_PID"])
        cpu_before = cpu_seconds(server)
        rate, stats = run_load(host, port, make, seconds=SECONDS, connections=CONNECTIONS)
        cpu = cpu_seconds(server) - cpu_before
        if next(it) > PREBUILT:
            print("warning: ran out of pre-built requests; replays were (rightly) refused")
        ok_rate = rate * stats.get(200, 0) / max(sum(stats.values()), 1)
        print(
            f"private_key_jwt + DPoP: {ok_rate:,.0f} tokens/s (200s only) over "
            f"{SECONDS}s, {CONNECTIONS} connections, statuses {dict(stats)}; server CPU "
            f"{cpu:.1f}s = {stats.get(200, 0) / max(cpu, 1e-9):,.0f} tokens per CPU-second"
        )
