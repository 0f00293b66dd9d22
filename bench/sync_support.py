"""Shared set-up of the ``b_sync_*`` benchmarks.

Target: ``OSTIARY_BENCH_SYNC_TARGET`` = ``ostiary`` (default: a served Ostiary, 2 granian
workers, over a fresh PostgreSQL database, dropped afterwards) or ``scim2-server`` (PyPI, in
memory); or any server given by ``OSTIARY_BENCH_SCIM_URL`` + ``OSTIARY_BENCH_SCIM_TOKEN``.
Size: ``OSTIARY_BENCH_SYNC_USERS`` (default 10,000). ``OSTIARY_BENCH_SYNC_BULK=0`` sends
one request per change instead of Bulk; ``OSTIARY_BENCH_SYNC_CONCURRENCY`` Bulk batches and
listing pages in flight (``target.concurrency``), ``OSTIARY_BENCH_SYNC_SINGLE_CONCURRENCY``
single requests in flight (``target.single_concurrency``); the agent's defaults when unset.
To measure one bound for everything, as before the two existed, set both. The served
Ostiary's per-key and per-IP rate limits are raised by env vars (see ``RAISED_LIMITS``).
"""

from __future__ import annotations

import csv
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.server import free_port, run_cli, served
from tests.support.services import scratch_postgres_database
from tests.sync.conftest import FIELDS, MAPPING, person
from tests.sync.scimserver import TOKEN, scim2_server

from ostiary.sync.config import DEFAULT_CONCURRENCY, load_config
from ostiary.sync.runner import Agent

USERS = int(os.environ.get("OSTIARY_BENCH_SYNC_USERS", "10000"))
BULK = os.environ.get("OSTIARY_BENCH_SYNC_BULK", "1") != "0"
TARGET = os.environ.get("OSTIARY_BENCH_SYNC_TARGET", "ostiary")
# The per-key and per-IP rate limits (default 50/s, burst 100) would make one request per
# change a benchmark of the limiter (100,000 creates at 50/s: 33 minutes). Raised here,
# and said so in the output; the limiter still runs on every request.
RAISED_LIMITS = {
    f"OSTIARY_{who}_RATE_{what}": "1000000"
    for who in ("KEY", "IP")
    for what in ("PER_SECOND", "BURST")
}
CONCURRENCY = int(os.environ.get("OSTIARY_BENCH_SYNC_CONCURRENCY", str(DEFAULT_CONCURRENCY)))
SINGLE = os.environ.get("OSTIARY_BENCH_SYNC_SINGLE_CONCURRENCY", "")
BOUNDS: dict[str, int] = {}  # the loaded configuration's, printed by cpu_line
# This machine's PostgreSQL runs with autovacuum = off. A deployment's autovacuum would
# vacuum and analyze the tables after the load (insert threshold, ~1 minute naptime);
# without it the planner believes the 100,000-user table is ~12,000 rows and sorts the
# whole table for each page. OSTIARY_BENCH_SYNC_VACUUM=0 measures without it.
VACUUM = os.environ.get("OSTIARY_BENCH_SYNC_VACUUM", "1") != "0"
KEY = re.compile(r"ost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}")


def write_people(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)


def people(n: int) -> list[dict[str, str]]:
    # Four groups keep membership work realistic without one giant group per request.
    return [person(i, groups=f"everyone;team{i % 4}") for i in range(1, n + 1)]


@contextmanager
def target() -> Iterator[tuple[Path, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("OSTIARY_BENCH_SCIM_URL")
        if url:
            yield Path(tmp), url, os.environ["OSTIARY_BENCH_SCIM_TOKEN"]
            return
        if TARGET == "ostiary":
            with ostiary_on_postgres(Path(tmp)) as (scim_url, key):
                yield Path(tmp), scim_url, key
            return
        bulk = {"supported": BULK, "maxOperations": 1000, "maxPayloadSize": 50 * 1024 * 1024}
        with scim2_server(Path(tmp), bulk=bulk) as scim_url:
            yield Path(tmp), scim_url, TOKEN


@contextmanager
def ostiary_on_postgres(tmp: Path) -> Iterator[tuple[str, str]]:
    """(SCIM base, bootstrap provisioning key) of ``ostiary serve`` on a fresh PG database."""
    with scratch_postgres_database() as db_url:
        port = free_port()
        env = {
            "OSTIARY_DATABASE_URL": db_url,
            "OSTIARY_MASTER_KEY_FILE": str(tmp / "master.key"),
            "OSTIARY_CONFIG": str(tmp / "none.toml"),
            "OSTIARY_ISSUER": f"http://127.0.0.1:{port}",
            "OSTIARY_WORKERS": os.environ.get("OSTIARY_BENCH_SYNC_WORKERS", "2"),
            "OSTIARY_LOG_LEVEL": "warning",
            # Bulk batches of 1,000 users are ~600 kB; the default cap is 1 MiB.
            "OSTIARY_SCIM_BULK_MAX_PAYLOAD_BYTES": str(4 * 1024 * 1024),
            **RAISED_LIMITS,
        }
        init = run_cli("init", "--bootstrap-key", env=env, cwd=tmp)
        key = KEY.search(init.stdout)
        if init.returncode != 0 or key is None:
            raise RuntimeError(f"ostiary init failed: {init.stderr}")
        with served(env, tmp, tmp / "serve.log", port=port) as (base, proc):
            SERVER.update(pid=proc.pid, database=db_url.rsplit("/", 1)[-1])
            _wait_idle()
            try:
                yield f"{base}/scim/v2", key.group(0)
            finally:
                SERVER.clear()


def agent(tmp: Path, url: str, token: str) -> Agent:
    os.environ["OSTIARY_BENCH_SYNC_TOKEN"] = token
    cfg = tmp / "sync.toml"
    cfg.write_text(
        f'[source]\ntype = "csv"\npath = "people.csv"\n\n[target]\nurl = "{url}"\n'
        f'token = {{ env = "OSTIARY_BENCH_SYNC_TOKEN" }}\nconcurrency = {CONCURRENCY}\n'
        f"{f'single_concurrency = {int(SINGLE)}' if SINGLE else ''}\n"
        # A Bulk batch may wait behind the others on a loaded 2-core machine.
        "timeout = 120\n"
        f"bulk = {'true' if BULK else 'false'}\n{MAPPING}"
    )
    loaded = load_config(cfg)
    BOUNDS.update(concurrency=loaded.target.concurrency, single=loaded.target.single_concurrency)
    return Agent(loaded, tmp / "state")


CPU = {"agent": 0.0, "server": 0.0, "database": 0.0}
SERVER: dict[str, Any] = {}  # the served Ostiary's pid and database name, while it runs
_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> tuple[int, float] | None:
    """(parent pid, user + system CPU seconds) of a live process, from /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICK


def _database_pids(name: str) -> set[int]:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        rows = conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,))
        return {int(r[0]) for r in rows}


def _processes() -> dict[str, dict[int, float]]:
    """CPU seconds so far of the server's process tree and of its PostgreSQL backends."""
    if not SERVER:
        return {"server": {}, "database": {}}
    stats = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (got := _cpu_of(int(entry.name))) is not None:
            stats[int(entry.name)] = got
    tree, grew = {SERVER["pid"]}, True
    while grew:
        more = {p for p, (ppid, _) in stats.items() if ppid in tree} - tree
        tree |= more
        grew = bool(more)
    backends = _database_pids(SERVER["database"])
    return {
        "server": {p: stats[p][1] for p in tree if p in stats},
        "database": {p: stats[p][1] for p in backends if p in stats},
    }


def _wait_idle(limit: float = 120.0) -> None:
    """Wait until the server is idle: /healthz answers once the first worker is up, and
    the other one's start-up (imports, the app: seconds of CPU) would count as the run's."""
    last, deadline = None, time.monotonic() + limit
    while time.monotonic() < deadline:
        now = sum(_processes()["server"].values())
        if last is not None and now - last < 0.02:
            return
        last = now
        time.sleep(0.5)


def settle() -> None:
    """Between the (unmeasured) load and the measured run: what autovacuum would have done."""
    if not (VACUUM and SERVER):
        return
    import psycopg

    url = f"postgresql://postgres@127.0.0.1:5432/{SERVER['database']}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


def load(a: Agent) -> None:
    """The initial load (not measured), then what autovacuum would do (``settle``)."""
    sync(a)
    settle()


def _spent(before: dict[int, float], after: dict[int, float]) -> float:
    # A process that started during the run counts whole; one that ended is lost (rare:
    # the pools keep their connections, granian its workers).
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def sync(a: Agent, **kw: bool) -> tuple[float, dict[str, int], dict[str, int], int]:
    """(seconds, plan counts, done counts, failures) of one plan + apply. The agent's own
    CPU time (the server runs in another process) is left in ``CPU["agent"]``."""
    procs = _processes()
    cpu = time.process_time()
    start = time.perf_counter()
    journal = a.journal()
    plan = a.plan(journal=journal)
    done: dict[str, int] = {}
    failures = 0
    if not plan.empty:
        summary = a.apply(plan, journal, **kw)
        done, failures = summary.done, len(summary.failures)
    CPU["agent"] = time.process_time() - cpu
    seconds = time.perf_counter() - start
    after = _processes()
    for part in ("server", "database"):
        CPU[part] = _spent(procs[part], after[part])
    return seconds, plan.counts(), done, failures


def cpu_line(users: int) -> str:
    """The CPU the run cost each side, whatever the machine's load did to the wall time."""
    line = f"agent CPU {CPU['agent']:.2f} s"
    if SERVER:
        per = (CPU["server"] + CPU["database"]) / max(users, 1) * 1e6
        line += (
            f", server CPU {CPU['server']:.2f} s (granian workers) + {CPU['database']:.2f} s "
            f"(PostgreSQL backends) = {per:,.0f} us per user"
        )
        line += ", rate limits raised to 1e6/s (env)"
        line += ", VACUUM (ANALYZE) after the load" if VACUUM else ", no VACUUM after the load"
    bounds = f", concurrency {BOUNDS.get('concurrency')} (Bulk, pages)"
    bounds += f", single_concurrency {BOUNDS.get('single')}"
    return line + bounds + f", load {os.getloadavg()[0]:.1f}"


def where() -> str:
    if os.environ.get("OSTIARY_BENCH_SCIM_URL"):
        return "given target"
    return "Ostiary/PostgreSQL" if TARGET == "ostiary" else "scim2-server 0.8.3"
