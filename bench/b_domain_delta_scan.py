"""Dense substring count time against the number of unfolded per-domain deltas.

Command: ``.venv/bin/python -m bench domain_delta_scan``. Migrates a scratch database
(``OSTIARY_BENCH_PG_DB``, default ``ostiary_bench_delta_scan``, dropped afterwards), keeps
50 folded domain counts, then appends 0 to 200,000 delta rows (the writes of that many
changed users since the last fold) and times ``domain_counts.count`` for
``userName co "example.c"`` (median of ``OSTIARY_BENCH_ROUNDS``, default 30). Why: every
count reads all unfolded deltas (migration 0022), so the fold's interval bounds this
cost; the user count does not enter it (the copies are empty here).
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

import psycopg

from bench.b_pg_create_cost import migrated_scratch
from ostiary.store import domain_counts
from ostiary.store.db import Database
from ostiary.store.tables_scim_query import user_name_search

DB = os.environ.get("OSTIARY_BENCH_PG_DB", "ostiary_bench_delta_scan")
ROUNDS = int(os.environ.get("OSTIARY_BENCH_ROUNDS", "30"))
SIZES = (0, 2_000, 10_000, 50_000, 200_000)
COUNTS = (
    "INSERT INTO scim_domain_counts (copy, signature, domains, n) SELECT c,"
    " sha256(convert_to(d, 'UTF8')), d, 1000 FROM (VALUES (1), (2)) AS k (c),"
    " (SELECT 'd' || i || '.example.com' AS d FROM generate_series(1, 25) AS i) AS s"
)
# Half userName, half emails deltas, over 25 domains, as a create-heavy sync writes them.
DELTAS = (
    "INSERT INTO scim_domain_deltas (copy, domains, d) SELECT 1 + i %% 2,"
    " 'd' || (i %% 25) || '.example.com', 1 FROM generate_series(1, %s) AS i"
)


# The term the deltas add to the count statement (domain_counts.count), timed by the server.
TERM = (
    "EXPLAIN (ANALYZE, FORMAT JSON) SELECT coalesce(sum(d) FILTER (WHERE copy = 1"
    " AND domains LIKE '%%example.c%%'), 0), count(*) FROM scim_domain_deltas"
)


def _time_count(db: Database) -> float:
    times = []
    for i in range(ROUNDS + 5):
        with db.read() as conn:
            start = time.perf_counter()
            domain_counts.count(conn, user_name_search.c.user_name_key, "example.c")
            if i >= 5:  # after warm-up (statement compile caches)
                times.append(time.perf_counter() - start)
    return statistics.median(times)


def _time_term(conn: psycopg.Connection[Any]) -> float:
    times = []
    for _ in range(ROUNDS):
        plan = conn.execute(TERM).fetchone()
        assert plan is not None
        times.append(plan[0][0]["Execution Time"] / 1e3)
    return statistics.median(times)


def run() -> None:
    with migrated_scratch(DB) as url:
        db = Database(url.replace("postgresql://", "postgresql+psycopg://"), pool_size=1)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(COUNTS)
            have = 0
            for size in SIZES:
                if size > have:
                    conn.execute(DELTAS, (size - have,))
                    conn.execute("VACUUM ANALYZE scim_domain_deltas")
                    have = size
                took, term = _time_count(db), _time_term(conn)
                print(
                    f"postgres: {size:,} unfolded deltas: whole count {took * 1e3:.2f} ms,"
                    f" the deltas' term {term * 1e3:.2f} ms (medians)"
                )
        db.dispose()
