"""Shared by the ``b_scim_*`` benchmarks: a directory of N users and G groups loaded in
bulk (COPY on PostgreSQL, one executemany transaction on SQLite; not the HTTP API), a
served ``ostiary`` process, and a small keep-alive HTTP load generator.

Environment: ``OSTIARY_BENCH_USERS`` (default 1,000,000), ``OSTIARY_BENCH_GROUPS``
(10,000), ``OSTIARY_BENCH_ENGINES`` (``sqlite,postgres``), ``OSTIARY_BENCH_DIR``
(``/tmp/ostiary-bench``), ``OSTIARY_BENCH_PG_DB`` (``ostiary_bench_scim``). A loaded
directory is reused by the next benchmark when its size matches; ``python -m bench
scim_seed_fresh`` style reloads happen in b_scim_seed.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.deploy import Deployment, deploy
from tests.support.server import free_port

from ostiary.core.ids import new_id

N_USERS = int(os.environ.get("OSTIARY_BENCH_USERS", "1000000"))
N_GROUPS = int(os.environ.get("OSTIARY_BENCH_GROUPS", "10000"))
ENGINES = os.environ.get("OSTIARY_BENCH_ENGINES", "sqlite,postgres").split(",")
ROOT = Path(os.environ.get("OSTIARY_BENCH_DIR", "/tmp/ostiary-bench"))
PG_ADMIN = os.environ.get(
    "OSTIARY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
# Each helper or run that sets its own OSTIARY_BENCH_DIR should also name its own database:
# a load drops and recreates it, whoever else was reading it.
PG_DB = os.environ.get("OSTIARY_BENCH_PG_DB", "ostiary_bench_scim")
# Migration 0004's PostgreSQL indexes: (name, table, column, USING, opclass).
REBUILT = [
    ("ix_user_name_search_trgm", "user_name_search", "user_name_key", "gin", "gin_trgm_ops"),
    ("ix_user_emails_value_key_trgm", "user_emails", "value_key", "gin", "gin_trgm_ops"),
    ("ix_user_email_search_trgm", "user_email_search", "email_keys", "gin", "gin_trgm_ops"),
    ("ix_users_user_name_key_prefix", "users", "user_name_key", "btree", "text_pattern_ops"),
    ("ix_user_emails_value_key_prefix", "user_emails", "value_key", "btree", "text_pattern_ops"),
    # Migration 0022's local-part indexes (expressions).
    (
        "ix_user_name_search_locals_trgm",
        "user_name_search",
        "(scim_key_locals(user_name_key))",
        "gin",
        "gin_trgm_ops",
    ),
    (
        "ix_user_email_search_locals_trgm",
        "user_email_search",
        "(scim_key_locals(email_keys))",
        "gin",
        "gin_trgm_ops",
    ),
]
# What migration 0021's triggers would have written for the loaded rows.
COPIES = [
    "INSERT INTO user_name_search (id, user_name_key) SELECT id, user_name_key FROM users",
    "INSERT INTO user_email_search (id, email_keys) SELECT user_id,"
    " string_agg(value_key, E'\\x1f' ORDER BY position) FROM user_emails GROUP BY user_id",
    # ... and what migration 0022's would have counted per domain (after the copies).
    *importlib.import_module("ostiary.store.migrations.versions.0022_domain_counts").FILL,
]
# Migration 0023's partial indexes (reversed local parts, other keys' trigrams): dropped
# for the load and built again from the migration's own statements.
LOCAL_SUFFIX = importlib.import_module("ostiary.store.migrations.versions.0023_local_suffix")
BIG_GROUP_MEMBERS = min(100_000, N_USERS)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
GIVEN = ["Ada", "Grace", "Linus", "Barbara", "Alan", "Edsger", "Margaret", "Dennis"]
FAMILY = ["Lovelace", "Hopper", "Torvalds", "Liskov", "Turing", "Dijkstra", "Hamilton"]


def user_name(i: int) -> str:
    return f"user{i:07d}@example.com"


def external_id(i: int) -> str:
    return f"ext-{i:07d}"


def _pg_url() -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB


def url_for(engine: str) -> str:
    if engine == "sqlite":
        return f"sqlite:///{ROOT / 'sqlite' / 'scim.db'}"
    return _pg_url()


def _user_rows(n: int) -> Iterator[tuple[Any, ...]]:
    for i in range(n):
        given, family = GIVEN[i % len(GIVEN)], FAMILY[i % len(FAMILY)]
        email = f"user{i}@mail.example"
        doc = {
            "name": {"givenName": given, "familyName": family},
            "displayName": f"{given} {family} {i}",
            "emails": [{"value": email, "type": "work", "primary": True}],
        }
        when = EPOCH + timedelta(milliseconds=i)
        yield (
            new_id(),
            user_name(i),
            user_name(i),
            external_id(i),
            doc["displayName"],
            given,
            family,
            True,
            json.dumps(doc),
            1,
            when,
            when,
            email,
        )


USER_COLS = (
    "id, user_name, user_name_key, external_id, display_name, given_name, "
    "family_name, active, doc, version, created_at, updated_at"
)


def _groups(user_ids: list[str]) -> tuple[list[tuple[Any, ...]], list[tuple[str, str, str]]]:
    groups, members = [], []
    for j in range(N_GROUPS):
        gid = new_id()
        name = f"group {j:05d}"
        groups.append((gid, name, name, f"gext-{j}", "{}", 1, EPOCH, EPOCH))
        # Group 0 is the big one (the PATCH benchmark); the rest get ten members each.
        chosen = (
            user_ids[:BIG_GROUP_MEMBERS]
            if j == 0
            else [user_ids[(j * 10 + k) % len(user_ids)] for k in range(10)]
        )
        members.extend((gid, uid, "User") for uid in chosen)
    return groups, members


def _seed_sqlite(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    ids: list[str] = []
    users, emails = [], []
    ts = lambda d: d.strftime("%Y-%m-%d %H:%M:%S.%f")  # noqa: E731  SQLAlchemy's format
    for row in _user_rows(N_USERS):
        ids.append(row[0])
        users.append((*row[:10], ts(row[10]), ts(row[11])))
        emails.append((row[0], 0, row[12], row[12], "work", 1))
        if len(users) == 50_000:
            _flush_sqlite(conn, users, emails)
    _flush_sqlite(conn, users, emails)
    groups, members = _groups(ids)
    conn.executemany(
        "INSERT INTO groups (id, display_name, display_name_key, external_id, doc, version,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?)",
        [(*g[:6], ts(g[6]), ts(g[7])) for g in groups],
    )
    conn.executemany("INSERT INTO group_members VALUES (?,?,?)", members)
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    conn.close()


def _flush_sqlite(conn: sqlite3.Connection, users: list[Any], emails: list[Any]) -> None:
    conn.executemany(f"INSERT INTO users ({USER_COLS}) VALUES ({','.join('?' * 12)})", users)
    conn.executemany(
        'INSERT INTO user_emails (user_id, position, value, value_key, type, "primary")'
        " VALUES (?,?,?,?,?,?)",
        emails,
    )
    users.clear()
    emails.clear()


def _seed_postgres(url: str) -> None:
    import psycopg

    ids: list[str] = []
    with psycopg.connect(url.replace("+psycopg", "")) as conn, conn.cursor() as cur:
        # A GIN index is far cheaper built once than maintained row by row: drop the
        # substring indexes for the load and build them again (inside the timed load).
        for name, *_ in REBUILT:
            cur.execute(f"DROP INDEX {name}")
        for table, _key in LOCAL_SUFFIX.COPIES:
            cur.execute(f"DROP INDEX ix_{table}_local_rev, ix_{table}_many_ats_trgm")
        # Likewise the search copies (migration 0021): filled once after the load, as the
        # migration fills them, not row by row by their triggers (off for the load only).
        for table in ("users", "user_emails"):
            cur.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        with cur.copy(f"COPY users ({USER_COLS}) FROM STDIN") as copy:
            emails = []
            for row in _user_rows(N_USERS):
                ids.append(row[0])
                copy.write_row(row[:12])
                emails.append((row[0], 0, row[12], row[12], "work", True))
        with cur.copy(
            'COPY user_emails (user_id, position, value, value_key, type, "primary") FROM STDIN'
        ) as copy:
            for e in emails:
                copy.write_row(e)
        groups, members = _groups(ids)
        with cur.copy(
            "COPY groups (id, display_name, display_name_key, external_id, doc,"
            " version, created_at, updated_at) FROM STDIN"
        ) as copy:
            for g in groups:
                copy.write_row(g)
        with cur.copy("COPY group_members (group_id, member_id, member_type) FROM STDIN") as copy:
            for m in members:
                copy.write_row(m)
        for sql in COPIES:
            cur.execute(sql)
        for table in ("users", "user_emails"):
            cur.execute(f"ALTER TABLE {table} ENABLE TRIGGER USER")
        cur.execute("SET maintenance_work_mem = '512MB'")
        for name, table, column, using, ops in REBUILT:
            cur.execute(f"CREATE INDEX {name} ON {table} USING {using} ({column} {ops})")
        for sql in LOCAL_SUFFIX.INDEXES:
            cur.execute(sql)
    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _fresh(engine: str) -> Deployment:
    if engine == "sqlite":
        folder = ROOT / "sqlite"
        for f in folder.glob("*"):
            f.unlink()
        folder.mkdir(parents=True, exist_ok=True)
        return deploy(url_for(engine), folder)
    import psycopg

    admin = PG_ADMIN.replace("+psycopg", "")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_DB}"')
    folder = ROOT / "postgres"
    folder.mkdir(parents=True, exist_ok=True)
    for f in folder.glob("*"):
        f.unlink()
    return deploy(url_for(engine), folder)


def load(engine: str) -> float:
    """Create a fresh deployment and bulk-load the directory; the seconds the load took."""
    dep = _fresh(engine)
    dep.db.dispose()
    start = time.perf_counter()
    if engine == "sqlite":
        _seed_sqlite(ROOT / "sqlite" / "scim.db")
    else:
        _seed_postgres(url_for(engine))
    return time.perf_counter() - start


def deployment(engine: str) -> Deployment:
    """The loaded deployment, loading it first when missing or of another size."""
    folder = ROOT / engine
    marker = folder / f"loaded-{N_USERS}-{N_GROUPS}"
    if not marker.exists():
        seconds = load(engine)
        print(f"   ({engine}: loaded {N_USERS:,} users, {N_GROUPS:,} groups in {seconds:.1f} s)")
        marker.touch()
    return deploy(url_for(engine), folder)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@contextmanager
def served(
    dep: Deployment,
    workers: int = 2,
    info: dict[str, Any] | None = None,
    extra_env: dict[str, str] | None = None,
    command: list[str] | None = None,
) -> Iterator[str]:
    """``ostiary serve`` on a free port; ``info`` receives the server's ``pid``;
    ``extra_env`` is added to its environment; ``command`` replaces ``ostiary serve``
    (bench audit_http's no-audit server). The log level is ``warning`` (no access
    lines) unless ``OSTIARY_LOG_LEVEL`` says otherwise."""
    port = free_port()
    env = {
        **os.environ,
        **(extra_env or {}),
        "OSTIARY_DATABASE_URL": dep.settings.database_url,
        "OSTIARY_MASTER_KEY_FILE": str(dep.settings.master_key_file),
        "OSTIARY_ISSUER": f"http://127.0.0.1:{port}",
        "OSTIARY_PORT": str(port),
        "OSTIARY_WORKERS": str(workers),
        "OSTIARY_LOG_LEVEL": os.environ.get("OSTIARY_LOG_LEVEL", "warning"),
    }
    exe = str(Path(sys.executable).with_name("ostiary"))
    log = open(ROOT / "serve.log", "wb")  # noqa: SIM115
    # Its own session, so a server that ignores SIGTERM can be killed with its workers.
    argv = command or [exe, "serve"]
    proc = subprocess.Popen(argv, env=env, stdout=log, stderr=log, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    if info is not None:
        info["pid"] = proc.pid
    try:
        import httpx

        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


async def _worker(
    host: str,
    port: int,
    requests: list[bytes],
    deadline: float,
    out: list[float],
    statuses: dict[int, int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    i = 0
    while time.perf_counter() < deadline:
        raw = requests[i % len(requests)]
        i += 1
        start = time.perf_counter()
        writer.write(raw)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        out.append(time.perf_counter() - start)
        statuses[status] = statuses.get(status, 0) + 1
    writer.close()


def hammer(addr: str, requests: list[bytes], *, seconds: float, connections: int) -> dict[str, Any]:
    """Send ``requests`` round-robin over keep-alive connections for ``seconds``."""
    host, port = addr.split(":")
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def main() -> float:
        deadline = time.perf_counter() + seconds
        start = time.perf_counter()
        await asyncio.gather(
            *(
                _worker(
                    host,
                    int(port),
                    requests[k::connections] or requests,
                    deadline,
                    latencies,
                    statuses,
                )
                for k in range(connections)
            )
        )
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    return {
        "rps": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "statuses": statuses,
        "n": len(latencies),
    }


def http_request(method: str, path: str, token: str, body: bytes = b"") -> bytes:
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/scim+json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body
