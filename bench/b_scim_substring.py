"""SCIM ``co``/``sw``/``ew`` on userName and emails at scale (target: p99 < 50 ms server
time on PostgreSQL with pg_trgm, 1,000,000 users).

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_substring``
(``OSTIARY_BENCH_ENGINES=postgres`` for PostgreSQL only; ``OSTIARY_BENCH_ROUNDS`` calls per
pattern, default 200 on PostgreSQL and 10 on SQLite). Server time as in ``b_scim_lookup``:
bind, SQL (page, count), render and project the first page of 100, no HTTP.

The needles (see docs/performance.md, "Substring search"): the seed's userNames are
``user0928052@example.com`` and its addresses ``user928052@mail.example``, one domain each,
like one company's directory. The digits stand for what differs between people, so a
"name fragment" is a run of digits; each call draws a new user, so no two calls of a
pattern repeat a needle. Every pattern prints the rows it matched (min / median / max
over its calls): a substring search costs what it matches, since totalResults is exact.
On PostgreSQL each pattern's first needle is also run under EXPLAIN (ANALYZE, BUFFERS):
execution time and shared buffers per statement, steadier than wall time under load.
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import event

from bench import scim_seed as s
from ostiary.scim.filter import bind
from ostiary.scim.filter_schema import USER
from ostiary.store.repositories.scim_search import Query, ScimSearch
from ostiary.web.context import AppContext
from ostiary.web.scim.search import Params, _list_response, _run

ROUNDS = {"postgres": 200, "sqlite": 10}
FEW = 10  # rounds for the patterns that match every user (each is a full count)

# (label, filter from the user's zero-padded userName digits d and address number n,
# whether it matches every user). userNames: user{d}@example.com; addresses: user{n}@mail.example.
Pattern = tuple[str, Callable[[str, str], str], bool]
PATTERNS: list[Pattern] = [
    ("userName co name fragment (5 digits)", lambda d, n: f'userName co "{d[2:]}"', False),
    ("userName co across @ (digits@example)", lambda d, n: f'userName co "{d[1:]}@example"', False),
    ("userName co common fragment (4 digits)", lambda d, n: f'userName co "{d[3:]}"', False),
    (
        "userName co 1% of users (2 digits@example)",
        lambda d, n: f'userName co "{d[5:]}@example"',
        False,
    ),
    ("userName sw prefix (USER + 5 digits)", lambda d, n: f'userName sw "USER{d[:5]}"', False),
    ("userName sw prefix (USER + 4 digits)", lambda d, n: f'userName sw "USER{d[:4]}"', False),
    ("userName co domain fragment", lambda d, n: 'userName co "example.c"', True),
    ("emails co name fragment (5 digits)", lambda d, n: f'emails co "{n[-5:]}"', False),
    ("emails.value co across @ (number@mail)", lambda d, n: f'emails.value co "{n}@mail"', False),
    (
        "emails[value co] common fragment (4 digits)",
        lambda d, n: f'emails[value co "{n[-4:]}"]',
        False,
    ),
    ("emails co 1% of users (2 digits@mail)", lambda d, n: f'emails co "{d[5:]}@mail"', False),
    ("emails sw address (user + number@)", lambda d, n: f'emails sw "user{n}@"', False),
    ("emails sw prefix (user + 4 digits)", lambda d, n: f'emails sw "user{n[:4]}"', False),
    ("emails co domain fragment", lambda d, n: 'emails co "mail.ex"', True),
]


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def explain(dep: s.Deployment, text: str) -> list[tuple[float, int]]:
    """(execution ms, shared buffers) of each statement the search runs for ``text``."""
    seen: list[tuple[str, object]] = []

    def record(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        # Queries only (a SET LOCAL the search ran stays in force in this transaction).
        if statement.startswith(("SELECT", "WITH")):
            seen.append((statement, params))

    out = []
    with dep.db.read() as conn:
        event.listen(conn, "before_cursor_execute", record)
        ScimSearch(conn, "User").run(Query(filter=bind(text, USER)))
        event.remove(conn, "before_cursor_execute", record)
        for sql, params in seen:
            top = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql, params)
            plan = top.scalar()[0]
            node = plan["Plan"]
            buffers = node.get("Shared Hit Blocks", 0) + node.get("Shared Read Blocks", 0)
            out.append((plan["Execution Time"], buffers))
    return out


_PAUSES: list[float] = []  # this process's garbage-collection pauses, seconds
_STARTED: list[float] = [0.0]


def _gc_pause(phase: str, info: dict[str, int]) -> None:
    if phase == "start":
        _STARTED[0] = time.perf_counter()
    else:
        _PAUSES.append(time.perf_counter() - _STARTED[0])


_SQL: list[float] = [0.0, 0.0]  # [started, seconds in statements this call]


def _sql_start(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
    _SQL[0] = time.perf_counter()


def _sql_end(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
    _SQL[1] += time.perf_counter() - _SQL[0]


@dataclass
class Calls:
    """Per call: server time, this process's CPU time (the Python side: bind, render,
    project; not PostgreSQL's, not time spent waiting for a CPU), the time inside the
    driver's execute and fetch of each statement (PostgreSQL's work, the round trips and
    any wait for a CPU meanwhile), and the rows matched."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    matched: list[int] = field(default_factory=list)

    def slowest(self, filters: list[str]) -> str:
        """The slowest call: where its time went (outliers are one call in 100)."""
        i = max(range(len(self.wall)), key=self.wall.__getitem__)
        return (
            f"slowest call #{i} {filters[i]}: {self.wall[i] * 1000:.1f} ms, SQL "
            f"{self.sql[i] * 1000:.1f} ms, Python CPU {self.cpu[i] * 1000:.1f} ms"
        )


def measure(ctx: AppContext, filters: list[str]) -> Calls:
    calls = Calls()
    event.listen(ctx.db.engine, "before_cursor_execute", _sql_start)
    event.listen(ctx.db.engine, "after_cursor_execute", _sql_end)
    try:
        for text in filters:
            p = Params(filter=text)
            _SQL[1] = 0.0
            start, start_cpu = time.perf_counter(), time.process_time()
            page, docs = _run(ctx, USER, p)
            _list_response(p, page.total, docs, None).body  # noqa: B018  (rendered bytes)
            calls.wall.append(time.perf_counter() - start)
            calls.cpu.append(time.process_time() - start_cpu)
            calls.sql.append(_SQL[1])
            calls.matched.append(page.total)
    finally:
        event.remove(ctx.db.engine, "before_cursor_execute", _sql_start)
        event.remove(ctx.db.engine, "after_cursor_execute", _sql_end)
    return calls


def run() -> None:
    rows: list[str] = []
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        ctx = AppContext.build(dep.settings)
        # As `ostiary serve` does once a worker's app is built (web/app.py): start-up
        # objects leave the collector's generations (full collections walked them).
        gc.collect()
        gc.freeze()
        gc.callbacks.append(_gc_pause)
        rounds = int(os.environ.get("OSTIARY_BENCH_ROUNDS", ROUNDS[engine]))
        print(f"{engine}: load average at start {_load()}")
        for label, make, everyone in PATTERNS:
            rng = random.Random(label)
            n = min(rounds, FEW) if everyone else rounds
            picks = [rng.randrange(s.N_USERS) for _ in range(n)]
            filters = [make(f"{i:07d}", str(i)) for i in picks]
            _PAUSES.clear()
            calls = measure(ctx, filters)
            matched = calls.matched
            pause = max(_PAUSES, default=0.0) * 1000
            ms = [x * 1000 for x in calls.wall]
            cpu_ms = statistics.median(calls.cpu) * 1000
            sql_ms = [x * 1000 for x in calls.sql]
            sql50, sql99 = s.percentile(sql_ms, 0.5), s.percentile(sql_ms, 0.99)
            p50, p95, p99 = (s.percentile(ms, q) for q in (0.5, 0.95, 0.99))
            rows_ = f"{min(matched)}/{statistics.median(matched):g}/{max(matched)}"
            plan = ""
            if engine == "postgres":
                parts = explain(dep, filters[0])
                total_ms, total_buf = sum(p[0] for p in parts), sum(p[1] for p in parts)
                plan = f"; EXPLAIN {total_ms:.2f} ms, {total_buf} buffers ({len(parts)} stmts)"
            print(
                f"{engine} {label}: e.g. {filters[0]} | matches min/median/max {rows_} | "
                f"p50 {p50:.2f} ms, p95 {p95:.2f} ms, p99 {p99:.2f} ms ({n} calls), "
                f"Python CPU p50 {cpu_ms:.2f} ms, SQL p50 {sql50:.2f} / p99 {sql99:.2f} ms, "
                f"longest GC pause {pause:.1f} ms{plan}; {calls.slowest(filters)}",
                flush=True,
            )
            rows.append(
                f"| {engine} | {label} | `{filters[0]}` | {rows_} | {p50:.1f} | {p95:.1f} "
                f"| {p99:.1f} | {cpu_ms:.1f} | {sql50:.1f} / {sql99:.1f} "
                f"| {plan.removeprefix('; EXPLAIN ') or '-'} |"
            )
        print(f"{engine}: load average at end {_load()}")
        gc.callbacks.remove(_gc_pause)
        ctx.db.dispose()
        dep.db.dispose()
    print(
        "\n| engine | pattern | first needle | matches min/median/max | p50 ms | p95 ms "
        "| p99 ms | Python CPU p50 ms | SQL p50 / p99 ms | EXPLAIN (first needle) |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    )
    print("\n".join(rows))
