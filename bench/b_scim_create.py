"""POST /Users over HTTP, no password in the body (target: 1,000 creates/s on 2 cores).

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_create``
(``OSTIARY_BENCH_ENGINES=sqlite`` for one engine; ``OSTIARY_BENCH_SECONDS``, default 10;
``OSTIARY_BENCH_CONNECTIONS``, default 32).

``ostiary serve`` (granian, 2 workers, ``OSTIARY_LOG_LEVEL=warning``: no access log) and
the load generator, ``wrk`` (bench/wrk.py, one thread, keep-alive connections), share
the machine. Every request is pre-built and sent once: each creates a distinct user
(userName, name, one email), so each writes a user row, an email row and an audit event
in the loaded directory.

Rate limits: the per-key and per-IP limits (defaults 50/s, burst 100) would refuse almost
every request of one key from one address, so this run raises them by environment
(``RAISED_LIMITS`` below, printed with the result); the limiter still runs on every
request. With two workers and no Redis each worker keeps its own buckets.

Besides the rate, the server's CPU time (both workers, /proc) per created user is
printed: unlike the rate it does not depend on what else runs on the machine. On
PostgreSQL the CPU of the database's backends (``pg_stat_activity`` pids, /proc) is printed
beside it: there the index maintenance and the commits are the database's share. The
tables a create writes are vacuumed before the run (see ``_vacuum``).
"""

from __future__ import annotations

import contextlib
import os
import uuid

import orjson

from bench import scim_seed as s
from bench import wrk
from bench.loadgen import cpu_seconds

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
SECONDS = float(os.environ.get("OSTIARY_BENCH_SECONDS", "10"))
CONNECTIONS = int(os.environ.get("OSTIARY_BENCH_CONNECTIONS", "32"))
RAISED_LIMITS = {
    "OSTIARY_KEY_RATE_PER_SECOND": "1000000",
    "OSTIARY_KEY_RATE_BURST": "1000000",
    "OSTIARY_IP_RATE_PER_SECOND": "1000000",
    "OSTIARY_IP_RATE_BURST": "1000000",
}
# wrk stops when single-use requests run out: build for well above the target rate.
BUILT = int(os.environ.get("OSTIARY_BENCH_CREATE_REQUESTS", str(int(6000 * SECONDS))))


def _requests(token: str, tag: str, start: int, n: int) -> list[bytes]:
    out = []
    for i in range(start, start + n):
        name = f"new-{tag}-{i}@example.com"
        body = orjson.dumps(
            {
                "schemas": [USER],
                "userName": name,
                "name": {"givenName": "New", "familyName": f"User{i}"},
                "emails": [{"value": name, "type": "work"}],
            }
        )
        out.append(s.http_request("POST", "/scim/v2/Users", token, body))
    return out


def run() -> None:
    limits = " ".join(f"{k}={v}" for k, v in RAISED_LIMITS.items())
    print(f"   rate limits raised for this run: {limits}")
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        _vacuum(engine)
        token = dep.make_key().token
        tag = uuid.uuid4().hex[:8]
        warm = _requests(token, tag, 0, 2000)
        timed = _requests(token, tag, 2000, BUILT)
        info: dict[str, int] = {}
        with s.served(dep, extra_env=RAISED_LIMITS, info=info) as addr:
            # Warm-up (caches, connections, the key's first verification); running out of
            # its requests early is fine.
            with contextlib.suppress(RuntimeError):
                wrk.run(addr, warm, seconds=1, connections=CONNECTIONS, once=True)
            cpu_before, db_before = cpu_seconds(info["pid"]), _backends_cpu(engine)
            r = wrk.run(addr, timed, seconds=SECONDS, connections=CONNECTIONS, once=True)
            cpu = cpu_seconds(info["pid"]) - cpu_before
            db_cpu = _backends_cpu(engine) - db_before
        created = r["statuses"].get(201, 0)
        per = 1e6 / max(created, 1)
        db = f", PostgreSQL backends {db_cpu * per:,.0f} us" if engine == "postgres" else ""
        print(
            f"{engine} POST /Users ({s.N_USERS:,}-user directory, {CONNECTIONS} connections, "
            f"{r['seconds']:.1f} s): {created / r['seconds']:,.0f} creates/s, "
            f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, statuses {r['statuses']}, "
            f"socket errors {r['socket_errors']}; server CPU {cpu:.2f} s = "
            f"{cpu * per:,.0f} us per create{db}; "
            f"load average {os.getloadavg()[0]:.1f}"
        )
        dep.db.dispose()


def _backends_cpu(engine: str, database: str | None = None) -> float:
    """CPU seconds so far of the PostgreSQL backends connected to ``database`` (default:
    the bench database; the server's pool keeps its connections for the run)."""
    if engine != "postgres":
        return 0.0
    import psycopg

    with psycopg.connect(s.PG_ADMIN.replace("+psycopg", ""), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (database or s.PG_DB,)
        )
        return sum(cpu_seconds(int(pid)) for (pid,) in rows)


def _vacuum(engine: str) -> None:
    """VACUUM what a create writes, before the run. This PostgreSQL runs with autovacuum
    off, and every create updates the single ``audit_head`` row: across runs its dead
    versions piled up (1,289 of them, 72 pages for one row, after ~16,000 creates) and the
    backends' CPU per create grew run after run (~600 -> ~1,950 us) whatever the code. A
    deployment's autovacuum keeps it small."""
    if engine != "postgres":
        return
    import psycopg

    url = s.url_for(engine).replace("+psycopg", "")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE audit_head, users, user_emails, audit_events")
