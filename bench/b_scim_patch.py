"""A 1-member PATCH on a group of 100,000 members (target: under 20 ms).

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_patch``.
Sequential PATCHes over HTTP (add, then remove, the same outsider), rate limits raised.
``OSTIARY_BENCH_PATCHES`` timed calls (default 200) follow ``OSTIARY_BENCH_WARMUP`` untimed
ones (default 10, reported apart): the first add and the first remove after the server
starts compile their statements, open the pool's connection and (PostgreSQL) fill a new
backend's catalog caches, and with 200 samples the p99 is the second slowest call, so two
cold calls would be the p99 whatever the steady state is. The server's CPU (granian
workers) and, on PostgreSQL, its backends' CPU per PATCH come from /proc.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import httpx
from sqlalchemy import select

from bench import scim_seed as s
from bench.loadgen import cpu_seconds
from ostiary.store.tables import groups, users

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
LIMITS = (
    "OSTIARY_KEY_RATE_PER_SECOND",
    "OSTIARY_KEY_RATE_BURST",
    "OSTIARY_IP_RATE_PER_SECOND",
    "OSTIARY_IP_RATE_BURST",
)
TIMED = int(os.environ.get("OSTIARY_BENCH_PATCHES", "200"))
WARMUP = int(os.environ.get("OSTIARY_BENCH_WARMUP", "10"))
_TICK = os.sysconf("SC_CLK_TCK")


def _backend_cpu(database: str) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to ``database``."""
    import psycopg

    with psycopg.connect(s.PG_ADMIN.replace("+psycopg", "")) as conn:
        pids = [
            r[0]
            for r in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,)
            )
        ]
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / _TICK
    return total


def targets(dep: s.Deployment) -> tuple[str, str]:
    """(the 100,000-member group's id, the user the PATCHes add and remove)."""
    with dep.db.read() as conn:
        gid = conn.execute(
            select(groups.c.id).where(groups.c.display_name == "group 00000")
        ).scalar_one()
        outsider = conn.execute(select(users.c.id).order_by(users.c.id.desc()).limit(1))
        return str(gid), str(outsider.scalar_one())


def body(i: int, outsider: str) -> str:
    """The i-th PATCH: even calls add ``outsider``, odd ones remove it (Okta's shape)."""
    op = (
        {"op": "add", "path": "members", "value": [{"value": outsider}]}
        if i % 2 == 0
        else {"op": "remove", "path": f'members[value eq "{outsider}"]'}
    )
    return json.dumps({"schemas": [PATCH], "Operations": [op]})


def _calls(http: httpx.Client, url: str, headers: dict[str, str], bodies: list[str]) -> list[float]:
    samples = []
    for body in bodies:
        start = time.perf_counter()
        resp = http.patch(url, content=body, headers=headers)
        samples.append(time.perf_counter() - start)
        assert resp.status_code in (200, 204), resp.text
    return samples


def run() -> None:
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        gid, outsider = targets(dep)
        token = dep.make_key().token
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
        # 200 PATCHes back to back from one key: over the default 50/s (burst 100), so
        # the per-key and per-IP limits are raised for the run (and printed).
        raised = {name: "100000" for name in LIMITS}
        print(f"   rate limits raised for this run: {raised}")
        info: dict[str, int] = {}
        url = f"/scim/v2/Groups/{gid}?excludedAttributes=members"
        with (
            s.served(dep, info=info, extra_env=raised) as addr,
            httpx.Client(base_url=f"http://{addr}") as http,
        ):
            start = time.perf_counter()
            probe = http.patch(url, content=body(0, outsider), headers=headers)
            cold = [time.perf_counter() - start]
            if probe.status_code in (404, 405, 501):
                print(f"{engine}: PATCH /Groups/{{id}} is not available ({probe.status_code})")
                continue
            cold += _calls(http, url, headers, [body(i, outsider) for i in range(1, WARMUP)])
            bodies = [body(WARMUP + i, outsider) for i in range(TIMED)]
            pg = engine == "postgres"
            server0, db0 = cpu_seconds(info["pid"]), _backend_cpu(s.PG_DB) if pg else 0.0
            samples = _calls(http, url, headers, bodies)
            server = (cpu_seconds(info["pid"]) - server0) / TIMED * 1e6
            db = (_backend_cpu(s.PG_DB) - db0) / TIMED * 1e6 if pg else 0.0
        ms = sorted(x * 1000 for x in samples)
        slow = sorted(range(len(samples)), key=lambda i: -samples[i])[:5]
        print(
            f"{engine} 1-member PATCH on a {s.BIG_GROUP_MEMBERS:,}-member group, {TIMED} "
            f"sequential after {WARMUP} warm-up calls: p50 {s.percentile(ms, 0.5):.1f} ms, "
            f"p99 {s.percentile(ms, 0.99):.1f} ms, max {ms[-1]:.1f} ms over HTTP; server CPU "
            f"{server:,.0f} us per PATCH" + (f", PostgreSQL backends {db:,.0f} us" if pg else "")
        )
        print(
            "   warm-up calls, untimed (ms): "
            + " ".join(f"{x * 1000:.1f}" for x in cold)
            + " | slowest timed (call: ms): "
            + ", ".join(f"{i}: {samples[i] * 1000:.1f}" for i in slow)
            + f" | load average {os.getloadavg()[0]:.1f}"
        )
        dep.db.dispose()
