"""PostgreSQL backend CPU per created user (the rows, triggers and indexes a create writes).

Command: ``.venv/bin/python -m bench pg_create_cost``. Migrates a scratch database
(``OSTIARY_BENCH_PG_DB``, default ``ostiary_bench_create_cost``, dropped afterwards), then
writes ``OSTIARY_BENCH_CREATES`` users (default 20,000) with one address each, as the
repositories do: one transaction per user, and one per batch of 8 with one multi-row
INSERT per table (the group commit's shape, ``users_batch``). Reports the backend's CPU
(``/proc/<pid>/stat``) and the wall time per user. Why: what a schema change (a trigger,
a copy, an index) adds to every create, measured without the HTTP server around it.
``OSTIARY_BENCH_EXTRA_SQL`` (statements separated by ``;;``) runs after the migration,
to measure a variant of the schema (docs/performance.md, "Per-domain counts, rebuilt").
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bench.scim_seed import PG_ADMIN
from ostiary.core.ids import new_id
from ostiary.store import migrate
from ostiary.store.db import Database

N = int(os.environ.get("OSTIARY_BENCH_CREATES", "20000"))
DB = os.environ.get("OSTIARY_BENCH_PG_DB", "ostiary_bench_create_cost")
EXTRA = os.environ.get("OSTIARY_BENCH_EXTRA_SQL", "")
WARM = 2000
COLS = (
    "id, user_name, user_name_key, external_id, display_name, given_name, family_name,"
    " active, doc, version, created_at, updated_at"
)
USER_ROW = "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,now(),now())"
EMAIL_ROW = "(%s,0,%s,%s,%s,%s)"


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rows(start: int, k: int) -> tuple[list[Any], list[Any]]:
    users: list[Any] = []
    emails: list[Any] = []
    for i in range(start, start + k):
        uid, name, email = new_id(), f"user{i:07d}@example.com", f"user{i}@mail.example"
        doc = json.dumps({"emails": [{"value": email}]})
        users += [uid, name, name, f"ext-{i}", "d", "g", "f", True, doc, 1]
        emails += [uid, email, email, "work", True]
    return users, emails


def _write(conn: psycopg.Connection[Any], start: int, count: int, batch: int) -> None:
    for first in range(start, start + count, batch):
        users, emails = _rows(first, batch)
        conn.execute(
            f"INSERT INTO users ({COLS}) VALUES " + ",".join([USER_ROW] * batch),
            users,
            prepare=True,
        )
        conn.execute(
            'INSERT INTO user_emails (user_id, position, value, value_key, type, "primary")'
            " VALUES " + ",".join([EMAIL_ROW] * batch),
            emails,
            prepare=True,
        )
        conn.commit()


def _measure(url: str, batch: int) -> tuple[float, float]:
    with psycopg.connect(url) as conn:
        pid = conn.info.backend_pid
        _write(conn, 10_000_000 + batch * 1_000_000, WARM, batch)
        cpu, wall = _cpu_seconds(pid), time.perf_counter()
        _write(conn, batch * 1_000_000, N, batch)
        return (_cpu_seconds(pid) - cpu) / N, (time.perf_counter() - wall) / N


@contextmanager
def migrated_scratch(name: str) -> Iterator[str]:
    """A fresh database ``name`` migrated to head (its psycopg URL), dropped afterwards."""
    admin = PG_ADMIN.replace("+psycopg", "")
    url = admin.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        db = Database(url.replace("postgresql://", "postgresql+psycopg://"), pool_size=1)
        migrate.upgrade(db)
        db.dispose()
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run() -> None:
    with migrated_scratch(DB) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for sql in filter(str.strip, EXTRA.split(";;")):
                conn.execute(sql)  # type: ignore[call-overload]
        for batch in (1, 8):
            cpu, wall = _measure(url, batch)
            print(
                f"postgres: {N:,} users, {batch} per transaction: backend CPU "
                f"{cpu * 1e6:.1f} us per user, wall {wall * 1e6:.1f} us per user"
            )
