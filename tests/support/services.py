"""Reaching the real services the suite needs.

On a laptop a missing PostgreSQL, Redis or browser skips the tests that need it, with a
message saying how to get it. With CI=true it fails them: CI must never go green because
a service quietly was not there.
"""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

PG_URL = os.environ.get("OSTIARY_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("OSTIARY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def missing(what: str, detail: str) -> None:
    message = f"{what} is not available: {detail}"
    if in_ci():
        pytest.fail(f"{message} (CI=true: {what} is required, not optional)", pytrace=False)
    pytest.skip(f"{message} (set CI=true to make this a failure)")


def _reachable(url: str, default_port: int) -> bool:
    parts = urlsplit(url.replace("+psycopg", ""))
    try:
        with socket.create_connection(
            (parts.hostname or "127.0.0.1", parts.port or default_port), 2
        ):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    if not _reachable(PG_URL, 5432):
        missing("PostgreSQL", f"nothing answers at {PG_URL}")
    return PG_URL


def require_redis() -> str:
    if not _reachable(REDIS_URL, 6379):
        missing("Redis", f"nothing answers at {REDIS_URL}")
    return REDIS_URL


def require_chromium() -> str:
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        missing("Debian's chromium", "run 'make test' (it installs the chromium package)")
    return path


@contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A fresh database on the test server, dropped afterwards, so parallel runs (and
    developers sharing a machine) never see each other's rows."""
    import psycopg

    base = require_postgres()
    admin = base.replace("postgresql+psycopg://", "postgresql://")
    name = f"ostiary_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    root, _, _ = base.rpartition("/")
    try:
        yield f"{root}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
