"""With CI=true a missing PostgreSQL fails the run, naming PostgreSQL; without CI it skips."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.server import free_port

ROOT = Path(__file__).resolve().parents[1]


def _run_store_test(ci: str) -> subprocess.CompletedProcess[str]:
    dead = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test"
    env = {**os.environ, "CI": ci, "OSTIARY_TEST_PG_URL": dead}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/store/test_migrations.py::test_migrated_schema_matches_tables",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_missing_postgres_fails_under_ci():
    result = _run_store_test("true")
    assert result.returncode != 0
    assert "PostgreSQL is not available" in result.stdout
    assert "CI=true" in result.stdout


def test_missing_postgres_skips_on_a_laptop():
    result = _run_store_test("")
    assert result.returncode == 0, result.stdout
    assert "1 skipped" in result.stdout
