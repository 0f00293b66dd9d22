"""SCIM ``userName eq`` and ``externalId eq`` at scale: server time, query plan, HTTP rate.

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_lookup``.
Server time is the handler's work in-process (bind the filter, count + page query, render,
project, orjson), without HTTP and key verification (``b_key_auth`` measures that).
The HTTP rate is a keep-alive load generator (this process, 32 connections) against
``ostiary serve`` (granian, 2 workers) on the same 2-core machine, so both share the CPUs.
"""

from __future__ import annotations

import random
import time
from urllib.parse import quote

from sqlalchemy import select

from bench import scim_seed as s
from ostiary.scim.filter import bind
from ostiary.scim.filter_schema import USER
from ostiary.store.scim_query import Translator
from ostiary.store.tables import users
from ostiary.web.context import AppContext
from ostiary.web.scim.search import Params, _list_response, _run

ROUNDS = 2000


def explain(dep: s.Deployment, text: str) -> list[str]:
    with dep.db.read() as conn:
        where = Translator("User", conn.dialect.name).where(bind(text, USER))
        stmt = select(users.c.id).where(where).order_by(users.c.id).limit(100)
        sql = str(stmt.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if conn.dialect.name == "sqlite" else "EXPLAIN "
        return [" | ".join(str(c) for c in row) for row in conn.exec_driver_sql(prefix + sql)]


def server_time(ctx: AppContext, filters: list[str]) -> tuple[float, float]:
    samples = []
    for i in range(ROUNDS):
        p = Params(filter=filters[i % len(filters)])
        start = time.perf_counter()
        page, docs = _run(ctx, USER, p)
        _list_response(p, page.total, docs, None).body  # noqa: B018  (rendered bytes)
        samples.append(time.perf_counter() - start)
        assert page.total == 1, filters[i % len(filters)]
    return s.percentile(samples, 0.5) * 1000, s.percentile(samples, 0.99) * 1000


def run() -> None:
    rng = random.Random(1)
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        picks = [rng.randrange(s.N_USERS) for _ in range(500)]
        by_name = [f'userName eq "{s.user_name(i).upper()}"' for i in picks]
        by_ext = [f'externalId eq "{s.external_id(i)}"' for i in picks]
        for label, text in (("userName", by_name[0]), ("externalId", by_ext[0])):
            print(f"{engine} plan for {label} eq:")
            for line in explain(dep, text):
                print(f"   {line}")
        ctx = AppContext.build(dep.settings)
        for label, filters in (("userName eq", by_name), ("externalId eq", by_ext)):
            p50, p99 = server_time(ctx, filters)
            print(f"{engine} {label}: server p50 {p50:.2f} ms, p99 {p99:.2f} ms ({ROUNDS} calls)")
        ctx.db.dispose()
        token = dep.make_key().token
        requests = [
            s.http_request("GET", f"/scim/v2/Users?filter={quote(f)}", token)
            for f in by_name + by_ext
        ]
        with s.served(dep) as addr:
            s.hammer(addr, requests, seconds=2, connections=8)  # warm up
            r = s.hammer(addr, requests, seconds=15, connections=32)
        print(
            f"{engine} HTTP eq lookups: {r['rps']:,.0f} req/s, p50 {r['p50_ms']:.1f} ms, "
            f"p99 {r['p99_ms']:.1f} ms, {r['n']:,} requests, statuses {r['statuses']}"
        )
        dep.db.dispose()
