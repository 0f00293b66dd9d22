"""SCIM ``co`` and ``sw`` on userName and emails at scale (target: p99 < 50 ms on
PostgreSQL with pg_trgm).

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_substring``.
Server time as in ``b_scim_lookup`` (count + first page of 100, rendered).
"""

from __future__ import annotations

import random
import time

from bench import scim_seed as s
from bench.b_scim_lookup import explain
from ostiary.scim.filter_schema import USER
from ostiary.web.context import AppContext
from ostiary.web.scim.search import Params, _list_response, _run

ROUNDS = {"postgres": 300, "sqlite": 20}  # SQLite scans: each co is a full scan


def run() -> None:
    rng = random.Random(2)
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        ctx = AppContext.build(dep.settings)
        digits = [f"{rng.randrange(s.N_USERS):07d}" for _ in range(ROUNDS[engine])]
        cases = {
            "userName co": [f'userName co "R{d}@"' for d in digits],
            "userName sw": [f'userName sw "USER{d[:6]}"' for d in digits],
            "emails co": [f'emails.value co "{int(d)}@mail"' for d in digits],
            "emails sw": [f'emails sw "user{int(d)}@"' for d in digits],
        }
        for label, filters in cases.items():
            if engine == "postgres":
                print(f"{engine} plan for {label}:")
                for line in explain(dep, filters[0]):
                    print(f"   {line}")
            samples, hits = [], 0
            for text in filters:
                p = Params(filter=text)
                start = time.perf_counter()
                page, docs = _run(ctx, USER, p)
                _list_response(p, page.total, docs, None)
                samples.append(time.perf_counter() - start)
                hits += page.total
            print(
                f"{engine} {label}: p50 {s.percentile(samples, 0.5) * 1000:.2f} ms, "
                f"p99 {s.percentile(samples, 0.99) * 1000:.2f} ms "
                f"({len(filters)} filters, {hits / len(filters):.1f} matches each on average)"
            )
        ctx.db.dispose()
        dep.db.dispose()
