"""SCIM ``userName eq`` and ``externalId eq`` at scale: query plans, server time, HTTP rate.

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_lookup``
(``OSTIARY_BENCH_ENGINES=sqlite`` for one engine; ``OSTIARY_BENCH_SECONDS`` (15) and
``OSTIARY_BENCH_CONNECTIONS`` (32) shape the HTTP run).

- Plans: the general path's WHERE, and the statement the lookup really runs (the same
  index lookup plus the correlated memberships aggregate).
- Server time: the handler's work in-process once the caller is authenticated (bind, one
  statement, render, project, orjson: ``fast_lookup.lookup_response``), no HTTP.
- HTTP rate: ``wrk`` (C, one thread, keep-alive; ``make bench-deps``) replaying 1,000
  pre-built GETs (500 userName + 500 externalId lookups of random users, cycled) against
  ``ostiary serve`` (granian, 2 workers) on the same machine. The server's CPU time per
  request (its processes, from /proc) is printed too: it is steadier than the rate when
  other work shares the cores; on PostgreSQL also the CPU of the database's backends
  (``pg_stat_activity`` pids, /proc), which the lookups cost as well.

Rate limits: the defaults (50/s, burst 100, per key and per IP) would answer nearly
every request with 429, so this run raises them through the environment, printed at the
start: ``OSTIARY_KEY_RATE_PER_SECOND``/``_BURST`` and ``OSTIARY_IP_RATE_PER_SECOND``/
``_BURST`` (100,000 unless set). The limiter still runs on every request. The access log
is on (``OSTIARY_LOG_LEVEL=info``, serve's default, one JSON line per request to the
server's log file) unless ``OSTIARY_LOG_LEVEL`` is set.

``OSTIARY_BENCH_HTTP_ONLY=1`` skips the plans and the in-process server time (repeated
HTTP runs when comparing CPU per request).
"""

from __future__ import annotations

import os
import random
import time
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from bench import scim_seed as s
from bench import wrk
from bench.b_scim_create import _backends_cpu
from bench.loadgen import cpu_seconds
from ostiary.scim.filter import bind
from ostiary.scim.filter_schema import USER
from ostiary.store.repositories import scim_lookup
from ostiary.store.scim_query import Translator
from ostiary.store.tables import users
from ostiary.web.context import AppContext
from ostiary.web.scim.fast_lookup import lookup_response

ROUNDS = 2000
SECONDS = float(os.environ.get("OSTIARY_BENCH_SECONDS", "15"))
CONNECTIONS = int(os.environ.get("OSTIARY_BENCH_CONNECTIONS", "32"))
HTTP_ONLY = os.environ.get("OSTIARY_BENCH_HTTP_ONLY", "") not in ("", "0")
LIMITS = (
    "OSTIARY_KEY_RATE_PER_SECOND",
    "OSTIARY_KEY_RATE_BURST",
    "OSTIARY_IP_RATE_PER_SECOND",
    "OSTIARY_IP_RATE_BURST",
)


def explain(dep: s.Deployment, text: str) -> list[str]:
    """The general path's WHERE (as ``ScimSearch`` builds it), ordered by id."""
    with dep.db.read() as conn:
        where = Translator("User", conn.dialect.name).where(bind(text, USER))
        stmt = select(users.c.id).where(where).order_by(users.c.id).limit(100)
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        return [" | ".join(str(c) for c in row) for row in conn.exec_driver_sql(prefix + sql)]


def explain_lookup(dep: s.Deployment, text: str) -> list[str]:
    """The plan of the statement the fast lookup executes, with this filter's value."""
    engine = dep.db.engine
    node = bind(text, USER)
    tr = Translator("User", engine.dialect.name)
    prepared = scim_lookup._prepare(engine, tr, node.ref.path)  # type: ignore[attr-defined]
    assert prepared is not None
    value = tr.operands(tr.columns[node.ref.path], node.value)[1]  # type: ignore[attr-defined]
    params = {**prepared.defaults, "value": value, "count": 100}
    args: Any = params if prepared.names is None else tuple(params[n] for n in prepared.names)
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with dep.db.lookups.connection() as conn:
        cur = conn.cursor()
        cur.execute(prefix + prepared.sql, args)
        return [" | ".join(str(c) for c in row) for row in cur.fetchall()]


def server_time(ctx: AppContext, filters: list[str]) -> tuple[float, float]:
    samples = []
    for i in range(ROUNDS):
        text = filters[i % len(filters)]
        start = time.perf_counter()
        body = lookup_response(ctx, text).body
        samples.append(time.perf_counter() - start)
        assert b'"totalResults":1,' in body, text
    return s.percentile(samples, 0.5) * 1000, s.percentile(samples, 0.99) * 1000


def _limits() -> str:
    for name in LIMITS:
        os.environ.setdefault(name, "100000")
    os.environ.setdefault("OSTIARY_LOG_LEVEL", "info")
    shown = ", ".join(f"{n}={os.environ[n]}" for n in LIMITS)
    return f"rate limits raised for this run (defaults 50/s, burst 100): {shown}"


def _http(engine: str, dep: s.Deployment, requests: list[bytes]) -> None:
    info: dict[str, Any] = {}
    with s.served(dep, info=info) as addr:
        wrk.run(addr, requests, seconds=2, connections=8)  # warm up caches and pools
        cpu_before, load_before = cpu_seconds(info["pid"]), os.getloadavg()[0]
        db_before = _backends_cpu(engine)
        r = wrk.run(addr, requests, seconds=SECONDS, connections=CONNECTIONS)
        cpu = cpu_seconds(info["pid"]) - cpu_before
        db_cpu = _backends_cpu(engine) - db_before
    per_request = cpu / r["n"] * 1e6 if r["n"] else 0.0
    db = (
        f" + PostgreSQL backends {db_cpu / r['n'] * 1e6:,.0f} us"
        if engine == "postgres" and r["n"]
        else ""
    )
    print(
        f"{engine} HTTP eq lookups (wrk, {CONNECTIONS} connections, {r['seconds']:.0f} s): "
        f"{r['rps']:,.0f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
        f"{r['n']:,} requests, statuses {r['statuses']}, socket errors {r['socket_errors']}; "
        f"server CPU {per_request:,.0f} us per request{db}; load average {load_before:.1f} -> "
        f"{os.getloadavg()[0]:.1f} (log level {os.environ['OSTIARY_LOG_LEVEL']})"
    )


def run() -> None:
    print(_limits())
    rng = random.Random(1)
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        picks = [rng.randrange(s.N_USERS) for _ in range(500)]
        by_name = [f'userName eq "{s.user_name(i).upper()}"' for i in picks]
        by_ext = [f'externalId eq "{s.external_id(i)}"' for i in picks]
        for label, text in (
            () if HTTP_ONLY else (("userName", by_name[0]), ("externalId", by_ext[0]))
        ):
            print(f"{engine} plan for {label} eq (general path's WHERE):")
            for line in explain(dep, text):
                print(f"   {line}")
            print(f"{engine} plan of the lookup statement for {label} eq:")
            for line in explain_lookup(dep, text):
                print(f"   {line}")
        if not HTTP_ONLY:
            ctx = AppContext.build(dep.settings)
            for label, filters in (("userName eq", by_name), ("externalId eq", by_ext)):
                p50, p99 = server_time(ctx, filters)
                print(
                    f"{engine} {label}: server p50 {p50:.2f} ms, p99 {p99:.2f} ms ({ROUNDS} calls)"
                )
            ctx.db.dispose()
        token = dep.make_key().token
        requests = [
            s.http_request("GET", f"/scim/v2/Users?filter={quote(f)}", token)
            for f in by_name + by_ext
        ]
        _http(engine, dep, requests)
        dep.db.dispose()
