"""Paging through every user with count=1000: cursor (RFC 9865 keyset) vs startIndex.

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_paging``.
The cursor walk visits every page and compares the first ten pages with the last ten;
startIndex pages are sampled at the start, the middle and the end (OFFSET grows).
Server time per page: count + page query + render + orjson.
"""

from __future__ import annotations

import time

from bench import scim_seed as s
from ostiary.scim.filter_schema import USER
from ostiary.web.context import AppContext
from ostiary.web.scim.search import Params, _list_response, _run

COUNT = 1000


def _page(ctx: AppContext, p: Params) -> tuple[float, str | None, int]:
    start = time.perf_counter()
    page, docs = _run(ctx, USER, p)
    _list_response(p, page.total, docs, page.next_cursor)
    return time.perf_counter() - start, page.next_cursor, len(docs)


def run() -> None:
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        ctx = AppContext.build(dep.settings)
        times, cursor, seen = [], "", 0
        walk = time.perf_counter()
        while cursor is not None:
            took, cursor, n = _page(ctx, Params(count=COUNT, cursor=cursor))
            times.append(took)
            seen += n
        walk = time.perf_counter() - walk
        first, last = sum(times[:10]) / 10 * 1000, sum(times[-11:-1]) / 10 * 1000
        print(
            f"{engine} cursor walk: {seen:,} users in {len(times)} pages, {walk:.1f} s; "
            f"first 10 pages {first:.1f} ms/page, last 10 {last:.1f} ms/page"
        )
        for where in (1, s.N_USERS // 2, s.N_USERS - COUNT + 1):
            samples = [_page(ctx, Params(count=COUNT, start_index=where))[0] for _ in range(3)]
            print(f"{engine} startIndex={where:,}: {min(samples) * 1000:.1f} ms/page (best of 3)")
        ctx.db.dispose()
        dep.db.dispose()
