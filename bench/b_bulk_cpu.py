"""Server cost of the sync agent's requests, in-process: Bulk creates, Bulk PATCHes and
listing pages, per user, on PostgreSQL (default) or SQLite; and, for comparison, single
``POST /Users`` requests (``single``: ``OSTIARY_BENCH_INFLIGHT``, default 16, in flight).

Command: ``.venv/bin/python -m bench bulk_cpu``. ``OSTIARY_BENCH_ENGINE=sqlite`` for
SQLite; ``OSTIARY_BENCH_BATCHES`` Bulk requests of ``OSTIARY_BENCH_BATCH`` (200, the
agent's default) operations per scenario (default 5); ``OSTIARY_BENCH_ONLY=create,single,patch,
page,fetch`` to pick scenarios (``fetch``: the re-sync's ``id eq`` filters of 50;
``OSTIARY_BENCH_PROFILE=1``: a CPU-time cProfile of ``single``
with its thread hops run inline). The ASGI app is called directly (no sockets, no load
generator), one request at a time (``single``: 16 in flight), access log on at INFO to
/dev/null. Figures: process CPU per user (this process: handler, SQLAlchemy, driver), and
on PostgreSQL the backends' CPU per user and the driver calls (``execute``/``executemany``:
round trips) per request, which is where the wall time went on a loaded machine. Under
``valgrind --tool=callgrind --instr-atstart=no`` with ``OSTIARY_BENCH_CALLGRIND=1`` only
the timed requests are instrumented: ``grep ^totals callgrind.out.*`` divided by the users printed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio.to_thread
import orjson
from tests.support.deploy import deploy
from tests.support.services import scratch_postgres_database

import bench.b_request_cpu as rc
from bench.b_request_cpu import _bearer, _call, _callgrind
from ostiary.web import app as web_app
from ostiary.web import logs
from ostiary.web.scim import batch

ENGINE = os.environ.get("OSTIARY_BENCH_ENGINE", "postgresql")
BATCHES = int(os.environ.get("OSTIARY_BENCH_BATCHES", "5"))
BATCH = int(os.environ.get("OSTIARY_BENCH_BATCH", "200"))
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
BULK = "urn:ietf:params:scim:api:messages:2.0:BulkRequest"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
JSON = (b"content-type", b"application/scim+json")
# ``single``: requests in flight (16; the sync agent's default of 4 over 2 workers is 2).
INFLIGHT = int(os.environ.get("OSTIARY_BENCH_INFLIGHT", "16"))
CALLS = {"n": 0}
DATABASE: dict[str, str] = {}  # the scratch PostgreSQL database's name, while it runs


def _backends_cpu() -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend serving the scratch database (one
    that starts during a run counts whole; one that ends is lost: pool overflow)."""
    if not DATABASE:
        return {}
    import psycopg

    from bench.loadgen import cpu_seconds

    with psycopg.connect(DATABASE["admin"], autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (DATABASE["name"],)
        )
        return {int(pid): cpu_seconds(int(pid)) for (pid,) in rows}


def _count_driver_calls() -> None:
    """Count psycopg round trips: every statement the app sends goes through these."""
    import psycopg

    for name in ("execute", "executemany"):
        real = getattr(psycopg.Cursor, name)

        def counted(self: Any, *a: Any, _real: Any = real, **kw: Any) -> Any:
            CALLS["n"] += 1
            return _real(self, *a, **kw)

        setattr(psycopg.Cursor, name, counted)


def _person(i: int) -> dict[str, Any]:
    # The agent's document for one CSV row (tests/sync/conftest.py MAPPING).
    return {
        "schemas": [USER],
        "userName": f"user{i:06d}@example.com",
        "externalId": f"ext-{i:06d}",
        "name": {"givenName": f"Given{i}", "familyName": f"Family{i}"},
        "displayName": f"Given{i} Family{i}",
        "emails": [{"value": f"user{i:06d}@example.com", "type": "work", "primary": True}],
        "active": True,
    }


def _bulk(ops: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"schemas": [BULK], "failOnErrors": len(ops) + 1, "Operations": ops})


def _creates(start: int) -> bytes:
    return _bulk(
        [
            {"method": "POST", "path": "/Users", "bulkId": f"b{n}", "data": _person(start + n)}
            for n in range(BATCH)
        ]
    )


def _patches(ids: list[str], tag: int) -> bytes:
    body = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "name.familyName", "value": f"Changed{tag}"}],
    }
    return _bulk([{"method": "PATCH", "path": f"/Users/{i}", "data": body} for i in ids])


@contextmanager
def _database(tmp: Path) -> Iterator[str]:
    if ENGINE == "sqlite":
        yield f"sqlite:///{tmp / 'bench.db'}"
        return
    with scratch_postgres_database() as url:
        root, _, DATABASE["name"] = url.rpartition("/")
        DATABASE["admin"] = root.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        yield url


def _timed(
    name: str, users: int, requests: list[Any], send: Callable[[Any], Any], sent: int = 0
) -> None:
    """``sent``: HTTP requests ``requests`` stands for, when not one each."""
    CALLS["n"] = 0
    _callgrind("on")
    db = _backends_cpu()
    cpu, wall = time.process_time(), time.perf_counter()
    for r in requests:
        send(r)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    _callgrind("off")
    after = _backends_cpu()
    db = sum(c - db.get(pid, 0.0) for pid, c in after.items() if pid in db or c)
    backends = f", PostgreSQL backends {db / users * 1e6:,.0f} us per user" if DATABASE else ""
    sent = sent or len(requests)
    trips = f", {CALLS['n'] / sent:,.1f} driver calls per request" if CALLS["n"] else ""
    print(
        f"{name} ({ENGINE}): {cpu / users * 1e6:,.0f} us CPU per user{backends}, {users} users in "
        f"{sent} requests{trips}; wall {wall:.2f} s; load {os.getloadavg()[0]:.1f}"
    )


def run() -> None:
    only = [s for s in os.environ.get("OSTIARY_BENCH_ONLY", "").split(",") if s]
    if ENGINE != "sqlite":
        _count_driver_calls()
    with tempfile.TemporaryDirectory() as tmp, _database(Path(tmp)) as url:
        limits = {"key_rate_per_second": 1e6, "ip_rate_per_second": 1e6}
        limits |= {"key_rate_burst": 10**6, "ip_rate_burst": 10**6}
        dep = deploy(url, Path(tmp), scim_bulk_max_payload_bytes=16 * 2**20, **limits)
        token = dep.make_key(["users:read", "users:write", "groups:read", "bulk"]).token
        devnull = open(os.devnull, "w")  # noqa: SIM115  (the log handler holds it)
        real_stdout, sys.stdout = sys.stdout, devnull
        try:
            logs.configure("info", True)
        finally:
            sys.stdout = real_stdout
        app = web_app.create_app(dep.settings)
        headers = _bearer(token, JSON)
        ids: list[str] = []

        def post(body: bytes) -> None:
            status = asyncio.run(_call(app, ("POST", "/scim/v2/Bulk", body, headers)))
            assert status == 200, status

        post(_creates(10_000_000))  # warm-up: imports, statement caches, pool
        if not only or "create" in only or "patch" in only:  # patch needs the users
            creates = [_creates(n * BATCH) for n in range(BATCHES)]
            _timed("bulk create", BATCH * BATCHES, creates, post)
        from sqlalchemy import select

        from ostiary.store.tables import users

        with dep.db.read() as conn:
            ids = [str(i) for i in conn.execute(select(users.c.id).order_by(users.c.id)).scalars()]
        if not only or "single" in only:
            _single(app, headers)
        if not only or "patch" in only:
            chunks = [ids[n * BATCH : (n + 1) * BATCH] for n in range(BATCHES)]
            post(_patches(chunks[0], 0))  # warm-up
            _timed("bulk patch", BATCH * BATCHES, [_patches(c, 1) for c in chunks], post)
        if not only or "page" in only:
            pages = max(1, len(ids) // 1000)

            def get(start: int) -> None:
                target = f"/scim/v2/Users?startIndex={start}&count=1000"
                status = asyncio.run(_call(app, ("GET", target, b"", _bearer(token))))
                assert status == 200, status

            get(1)
            _timed("list page count=1000", pages * 1000, [1 + p * 1000 for p in range(pages)], get)
        if not only or "fetch" in only:
            _fetch(app, _bearer(token), ids)
        app.state.ctx.db.dispose()
        dep.db.dispose()


# What the agent's re-sync asks for the users it must compare (sync/remote.py _full).
FETCH_ATTRIBUTES = (
    "userName,externalId,active,meta,name.givenName,name.familyName,displayName,emails,"
    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department"
)


def _fetch(app: Any, headers: Any, ids: list[str]) -> None:
    """The agent's fetch of changed users: ``id eq`` filters of 50 joined by ``or``
    (sync/client.py fetch_ids), with the compared attributes."""
    from urllib.parse import quote

    def get(chunk: list[str]) -> None:
        text = quote(" or ".join(f'id eq "{i}"' for i in chunk))
        target = f"/scim/v2/Users?filter={text}&count={len(chunk)}&attributes={FETCH_ATTRIBUTES}"
        status = asyncio.run(_call(app, ("GET", target, b"", headers)))
        assert status == 200, status

    chunks = [ids[i : i + 50] for i in range(0, min(len(ids), 1000), 50)]
    get(chunks[0])
    _timed("fetch by id filters of 50", 50 * len(chunks), chunks, get)


def _single(app: Any, headers: Any) -> None:
    """POST /Users one user per request, ``INFLIGHT`` in flight (the group commit
    batches what is waiting), BATCH * BATCHES users."""
    import cProfile
    import pstats

    n = BATCH * BATCHES
    rc.CONCURRENCY = INFLIGHT

    def make(i: int) -> Any:
        return ("POST", "/scim/v2/Users", orjson.dumps(_person(20_000_000 + i)), headers)

    def drive(requests: Callable[[int], Any], count: int) -> None:
        statuses = asyncio.run(rc._drive(app, requests, count))
        assert set(statuses) == {201}, statuses

    drive(lambda i: make(n + i), 100)  # warm-up
    prof = cProfile.Profile(time.process_time) if os.environ.get("OSTIARY_BENCH_PROFILE") else None
    # (main's batch.py has no _threads: it hands off through anyio only)
    real, threads = anyio.to_thread.run_sync, getattr(batch, "_threads", None)
    if prof is not None:  # the worker threads' share is what to see: run it inline
        anyio.to_thread.run_sync = rc._inline  # type: ignore[assignment]
        if threads is not None:
            batch._threads = _Inline  # type: ignore[assignment]
        prof.enable()
    _timed(f"single POST /Users, {INFLIGHT} in flight", n, [make], lambda m: drive(m, n), sent=n)
    if prof is not None:
        prof.disable()
        anyio.to_thread.run_sync = real  # type: ignore[assignment]
        if threads is not None:
            batch._threads = threads  # type: ignore[assignment]
        pstats.Stats(prof).sort_stats("tottime").print_stats(30)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(60)


class _Inline(concurrent.futures.Executor):
    """Runs what it is given at once, in this thread (where cProfile sees it)."""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        done: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            done.set_result(fn(*args, **kwargs))
        except Exception as exc:
            done.set_exception(exc)
        return done
