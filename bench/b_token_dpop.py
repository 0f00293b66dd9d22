"""client_credentials with private_key_jwt + DPoP, over HTTP (issue 4 point 6).

Command: ``.venv/bin/python -m bench token_dpop``. Serves Ostiary with granian (2 workers,
SQLite, access log on), registers an ES256 client key on a provisioning key (DPoP
required), and drives ``POST /token`` with wrk (``bench/wrk.py``): every request carries
its own client assertion (RFC 7523, single-use jti, 290 s lifetime) and DPoP proof
(RFC 9449, single-use jti), signed before the run (a real client signs them too; here that
CPU is kept off the server's cores) and each sent exactly once. Target: at least 1,000
tokens per second. Raised for the run (printed): the per-IP and per-key rate limits, and
``OSTIARY_DPOP_MAX_AGE_SECONDS=300`` so proofs signed while the file is built are still
fresh when sent (a wider acceptance window; it changes no per-request work).
``OSTIARY_BENCH_TOKENS`` (default 60,000: ~3,000 tokens/s ran out of 30,000 in 10 s plus
the warm-up) is how many requests are built.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from urllib.parse import urlencode

from tests.support.oauth import assertion_form, client_assertion, dpop_proof, ec_key
from tests.support.server import OSTIARY

from bench import token_bench, wrk
from bench.b_token_basic import make_key
from bench.loadgen import form_request

TARGET = 1_000
PREBUILT = int(os.environ.get("OSTIARY_BENCH_TOKENS", "60000"))
WARM = 4_000
EXTRA = {"OSTIARY_DPOP_MAX_AGE_SECONDS": "300"}


def _requests(port: int, key_id: str, client_key, proof_key, n: int) -> list[bytes]:
    issuer = f"http://127.0.0.1:{port}"
    now = int(time.time())
    out = []
    for _ in range(n):
        assertion = client_assertion(client_key, key_id, issuer, now=now, lifetime=290)
        body = urlencode(assertion_form(assertion)).encode()
        proof = dpop_proof(proof_key, "POST", f"{issuer}/token", iat=now)
        out.append(form_request(port, body, {"DPoP": proof}))
    return out


def run() -> None:
    with token_bench.deployment(EXTRA) as (_host, port, env, tmp):
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
        built = time.perf_counter()
        requests = _requests(port, key_id, client_key, proof_key, PREBUILT + WARM)
        took = time.perf_counter() - built
        print(f"  built {len(requests):,} single-use requests in {took:.1f} s")
        addr = f"127.0.0.1:{port}"
        warm = wrk.run(addr, requests[:WARM], seconds=1, connections=8, once=True)
        if set(warm["statuses"]) != {200}:
            raise SystemExit(f"warm-up refused: {warm['statuses']}")
        result, cpu = token_bench.measure(env, port, requests[WARM:], once=True)
        token_bench.report("private_key_jwt + DPoP", TARGET, result, cpu, EXTRA)
