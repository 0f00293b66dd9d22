"""Shared set-up of the ``b_sync_*`` benchmarks.

Target: ``OSTIARY_BENCH_SCIM_URL`` + ``OSTIARY_BENCH_SCIM_TOKEN`` (e.g. a served Ostiary on
PostgreSQL), else a scim2-server (PyPI, in memory) started on a free 127.0.0.1 port.
Size: ``OSTIARY_BENCH_SYNC_USERS`` (default 10,000). ``OSTIARY_BENCH_SYNC_BULK=0`` sends
one request per change instead of Bulk.
"""

from __future__ import annotations

import csv
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.sync.conftest import FIELDS, MAPPING, person
from tests.sync.scimserver import TOKEN, scim2_server

from ostiary.sync.config import load_config
from ostiary.sync.runner import Agent

USERS = int(os.environ.get("OSTIARY_BENCH_SYNC_USERS", "10000"))
BULK = os.environ.get("OSTIARY_BENCH_SYNC_BULK", "1") != "0"


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
        bulk = {"supported": BULK, "maxOperations": 1000, "maxPayloadSize": 50 * 1024 * 1024}
        with scim2_server(Path(tmp), bulk=bulk) as scim_url:
            yield Path(tmp), scim_url, TOKEN


def agent(tmp: Path, url: str, token: str) -> Agent:
    os.environ["OSTIARY_BENCH_SYNC_TOKEN"] = token
    cfg = tmp / "sync.toml"
    cfg.write_text(
        f'[source]\ntype = "csv"\npath = "people.csv"\n\n[target]\nurl = "{url}"\n'
        f'token = {{ env = "OSTIARY_BENCH_SYNC_TOKEN" }}\nconcurrency = 4\n'
        f"bulk = {'true' if BULK else 'false'}\n{MAPPING}"
    )
    return Agent(load_config(cfg), tmp / "state")


CPU = {"agent": 0.0}


def sync(a: Agent, **kw: bool) -> tuple[float, dict[str, int], dict[str, int], int]:
    """(seconds, plan counts, done counts, failures) of one plan + apply. The agent's own
    CPU time (the server runs in another process) is left in ``CPU["agent"]``."""
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
    return time.perf_counter() - start, plan.counts(), done, failures


def where() -> str:
    return (os.environ.get("OSTIARY_BENCH_SCIM_URL") and "given target") or "scim2-server 0.8.3"
