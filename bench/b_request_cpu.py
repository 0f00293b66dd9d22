"""CPU per request on the hot paths, in-process (ASGI app called directly, no sockets).

Command: ``.venv/bin/python -m bench request_cpu`` (``OSTIARY_BENCH_N`` requests per
scenario, default 2000; ``OSTIARY_BENCH_ONLY=lookup,create`` to pick scenarios;
``OSTIARY_BENCH_PROFILE=lookup`` prints a cProfile of that scenario with the thread hop
run inline so the profile sees the handler). Wall-clock rates are meaningless on a shared
2-core machine; process CPU time per request (all threads: event loop, worker threads,
SQLite) is the figure to compare before and after a change. The access log is on at its
default level (``info``, written to /dev/null), as ``ostiary serve`` runs it.

Scenarios: ``lookup`` (GET /Users?filter=userName eq, 1,000 users), ``get`` (GET
/Users/{id}), ``create`` (POST /Users, no password), ``token_basic``
(client_credentials, client_secret_basic), ``token_dpop`` (private_key_jwt + DPoP, proofs
signed before the timed run).

``OSTIARY_BENCH_ENGINE=postgres`` runs on a scratch PostgreSQL database (on
``OSTIARY_TEST_PG_URL``'s server, dropped afterwards) and prints the CPU of its backends
per request too (``pg_stat_activity`` pids, /proc): the thread hops, round trips and
batching of the PostgreSQL paths.
"""

from __future__ import annotations

import asyncio
import cProfile
import json
import os
import pstats
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import anyio.to_thread
import orjson
from tests.support.deploy import Deployment, deploy
from tests.support.oauth import assertion_form, basic, client_assertion, dpop_proof, ec_key
from tests.support.services import scratch_postgres_database

from bench.loadgen import cpu_seconds
from ostiary.core.clock import FrozenClock
from ostiary.web import app as web_app
from ostiary.web import logs

N = int(os.environ.get("OSTIARY_BENCH_N", "2000"))
# Under ``valgrind --tool=callgrind --instr-atstart=no``: count instructions of the timed
# requests only (machine load does not change them; see docs/performance.md).
CALLGRIND = bool(os.environ.get("OSTIARY_BENCH_CALLGRIND"))
CONCURRENCY = 16
# ``info`` writes the access line of every request (serve's default); ``warning`` none.
LOG_LEVEL = os.environ.get("OSTIARY_BENCH_LOG_LEVEL", "info")
ENGINE = os.environ.get("OSTIARY_BENCH_ENGINE", "sqlite")
USERS = 200 if CALLGRIND else 1000
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
Request = tuple[str, str, bytes, list[tuple[bytes, bytes]]]  # method, path?query, body, headers


async def _call(app: Any, req: Request) -> int:
    method, target, body, headers = req
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


async def _drive(app: Any, make: Callable[[int], Request], n: int) -> dict[int, int]:
    statuses: dict[int, int] = {}
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            status = await _call(app, make(i))
            statuses[status] = statuses.get(status, 0) + 1

    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return statuses


def _bearer(token: str, *extra: tuple[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    return [(b"authorization", f"Bearer {token}".encode()), *extra]


def _user_body(name: str) -> bytes:
    return orjson.dumps({"schemas": [USER], "userName": name, "name": {"givenName": "B"}})


def _seed_users(app: Any, token: str) -> list[str]:
    json_type = (b"content-type", b"application/scim+json")
    reqs = [
        ("POST", "/scim/v2/Users", _user_body(f"seed{i}@example.com"), _bearer(token, json_type))
        for i in range(USERS)
    ]

    async def go() -> list[str]:
        return [str(await _call(app, r)) for r in reqs]

    asyncio.run(go())
    return [f"seed{i}@example.com" for i in range(USERS)]


def _user_ids(dep: Deployment) -> list[str]:
    from sqlalchemy import select

    from ostiary.store.tables import users

    with dep.db.read() as conn:
        return [str(i) for i in conn.execute(select(users.c.id).limit(USERS)).scalars()]


def _oauth_key(dep: Deployment, tmp: Path, key_id: str) -> Any:
    client_key = ec_key()
    jwk_file = tmp / "client.json"
    jwk_file.write_text(json.dumps(client_key.as_dict(private=False)))
    env = {
        **os.environ,
        "OSTIARY_DATABASE_URL": dep.settings.database_url,
        "OSTIARY_MASTER_KEY_FILE": str(dep.settings.master_key_file),
        "OSTIARY_CONFIG": str(tmp / "none.toml"),
        "OSTIARY_ISSUER": "http://testserver",
    }
    ostiary = str(Path(sys.executable).with_name("ostiary"))
    subprocess.run(
        [ostiary, "key-oauth", "set", key_id, "--jwk", str(jwk_file), "--require-dpop"],
        env=env,
        check=True,
        capture_output=True,
    )
    return client_key


def _scenarios(dep: Deployment, app: Any, tmp: Path) -> dict[str, Callable[[int], Request]]:
    writer = dep.make_key(["users:read", "users:write"])
    names = _seed_users(app, writer.token)
    ids = _user_ids(dep)
    reader = dep.make_key(["users:read"])
    form = (b"content-type", b"application/x-www-form-urlencoded")
    cc = urlencode({"grant_type": "client_credentials"}).encode()
    auth = basic(reader.record.id, reader.token)["Authorization"].encode()
    dpop_key = dep.make_key(["users:read"])
    client_key, proof_key = _oauth_key(dep, tmp, dpop_key.record.id), ec_key()
    now = int(time.time())
    dpop: list[Request] = []
    for _ in range(N + 200 if not _only() or "token_dpop" in _only() else 0):
        assertion = client_assertion(
            client_key, dpop_key.record.id, "http://testserver", now=now, lifetime=300
        )
        proof = dpop_proof(proof_key, "POST", "http://testserver/token", iat=now)
        body = urlencode(assertion_form(assertion)).encode()
        dpop.append(("POST", "/token", body, [form, (b"dpop", proof.encode())]))
    json_type = (b"content-type", b"application/scim+json")
    return {
        "lookup": lambda i: (
            "GET",
            "/scim/v2/Users?filter=" + quote(f'userName eq "{names[i % USERS]}"'),
            b"",
            _bearer(reader.token),
        ),
        "get": lambda i: ("GET", f"/scim/v2/Users/{ids[i % USERS]}", b"", _bearer(reader.token)),
        "create": lambda i: (
            "POST",
            "/scim/v2/Users",
            _user_body(f"new{i}-{time.monotonic_ns()}@example.com"),
            _bearer(writer.token, json_type),
        ),
        "token_basic": lambda i: ("POST", "/token", cc, [form, (b"authorization", auth)]),
        "token_dpop": lambda i: dpop[i],
    }


async def _inline(func: Callable[..., Any], *args: Any, **_kw: Any) -> Any:
    return func(*args)


def _measure(app: Any, name: str, make: Callable[[int], Request], profile: bool) -> None:
    warm = asyncio.run(_drive(app, make, min(200, N)))  # warm up (caches, lazy imports)
    print(f"{name}: warm-up statuses {warm}")
    offset = 200 if name == "token_dpop" else 0  # single-use proofs: skip the warm-up ones
    real = anyio.to_thread.run_sync
    prof = cProfile.Profile() if profile else None
    if prof is not None or os.environ.get("OSTIARY_BENCH_INLINE"):
        anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
    if prof is not None:
        prof.enable()
    _callgrind("on")
    db_before = _backends_cpu(app)
    began_cpu, began = time.process_time(), time.perf_counter()
    statuses = asyncio.run(_drive(app, lambda i: make(i + offset), N))
    cpu, wall = time.process_time() - began_cpu, time.perf_counter() - began
    db_cpu = _backends_cpu(app) - db_before
    _callgrind("off")
    if prof is not None:
        prof.disable()
    anyio.to_thread.run_sync = real  # type: ignore[assignment]
    print(
        f"{name}: {cpu / N * 1e6:,.0f} us CPU per request ({N} requests, concurrency "
        f"{CONCURRENCY}, statuses {statuses}); wall {wall / N * 1e6:,.0f} us; "
        + (f"PostgreSQL backends {db_cpu / N * 1e6:,.0f} us per request; " if db_cpu else "")
        + f"load {os.getloadavg()[0]:.1f}"
    )
    if prof is not None:
        pstats.Stats(prof).sort_stats("tottime").print_stats(35)
        pstats.Stats(prof).sort_stats("cumulative").print_stats(45)


def _backends_cpu(app: Any) -> float:
    """CPU seconds so far of the PostgreSQL backends serving this app's database."""
    db = app.state.ctx.db
    if db.dialect != "postgresql":
        return 0.0
    from sqlalchemy import text

    with db.engine.connect() as conn:
        pids = conn.execute(
            text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
        ).scalars()
        return sum(cpu_seconds(int(pid)) for pid in pids)


@contextmanager
def _database(tmp: str) -> Iterator[str]:
    if ENGINE == "postgres":
        with scratch_postgres_database() as url:
            yield url
    else:
        yield f"sqlite:///{Path(tmp) / 'bench.db'}"


def _callgrind(state: str) -> None:
    if CALLGRIND:
        subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True)


def _only() -> list[str]:
    return [s for s in os.environ.get("OSTIARY_BENCH_ONLY", "").split(",") if s]


def run() -> None:
    only = _only()
    profile = os.environ.get("OSTIARY_BENCH_PROFILE", "")
    with tempfile.TemporaryDirectory() as tmp, _database(tmp) as url:
        # Rate limits far above the load: the limiter still runs, it just never refuses.
        limits = {"key_rate_per_second": 1e6, "ip_rate_per_second": 1e6}
        limits |= {"key_rate_burst": 10**6, "ip_rate_burst": 10**6}
        # Under callgrind on a loaded machine the DPoP run takes minutes: proofs (signed
        # before it) stay acceptable for 10 minutes, assertions for the 5-minute maximum.
        limits |= {"dpop_max_age_seconds": 600} if CALLGRIND else {}
        dep = deploy(url, Path(tmp), **limits)
        devnull = open(os.devnull, "w")  # noqa: SIM115  (the log handler holds it)
        real_stdout, sys.stdout = sys.stdout, devnull
        try:
            logs.configure(LOG_LEVEL, True)  # the access log as served, to /dev/null
        finally:
            sys.stdout = real_stdout
        # Under callgrind everything runs ~50x slower, so time-based caches (the token
        # endpoint's 1 s key record cache, the 60 s keyring) would expire every few
        # requests and the count would measure refreshes and thread hops that a served
        # node does once per thousands of tokens. A clock that stands still after set-up
        # counts the steady state; CPU-time runs keep the system clock.
        clock = FrozenClock(datetime.now(UTC)) if CALLGRIND else None
        app = web_app.create_app(dep.settings, clock=clock)
        scenarios = _scenarios(dep, app, Path(tmp))
        if clock is not None:
            clock.advance(time.time() - clock.now().timestamp())  # now, then frozen
            # valgrind runs one thread at a time: a batch of audit writes can take longer
            # than the 10 s the token endpoint waits before answering 503.
            app.state.oauth.audit._timeout = 3600.0
        for name, make in scenarios.items():
            if not only or name in only:
                _measure(app, name, make, profile == name)
        app.state.ctx.db.dispose()
        dep.db.dispose()
