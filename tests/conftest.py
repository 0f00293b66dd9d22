"""Shared fixtures. ``database_url`` runs a test on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy
from tests.support.services import scratch_postgres_database

# CI runs the property tests on a fixed seed: a merge is judged on the same examples every
# run. Locally they stay random, which is how new counterexamples are found (then kept
# as explicit tests).
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI") == "true":
    settings.load_profile("ci")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ostiary.db'}"
    else:
        with scratch_postgres_database() as url:
            yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ostiary.db'}"


@pytest.fixture
def deployment(database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    dep = deploy(database_url, tmp_path)
    yield dep
    dep.db.dispose()


@pytest.fixture
def pg_deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A deployment on PostgreSQL only, for behaviour SQLite cannot show (SKIP LOCKED...)."""
    with scratch_postgres_database() as url:
        dep = deploy(url, tmp_path)
        yield dep
        dep.db.dispose()


@pytest.fixture
def clock() -> FrozenClock:
    from datetime import UTC, datetime

    return FrozenClock(datetime.now(UTC))


@pytest.fixture
def client(deployment: Deployment, clock: FrozenClock) -> Iterator[TestClient]:
    app = create_app(deployment.settings, clock=clock)
    with TestClient(app, base_url="http://testserver") as tc:
        yield tc
    app.state.ctx.db.dispose()


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    """Say plainly how many tests ran on PostgreSQL, so a green run cannot hide that the
    PostgreSQL half was skipped."""
    stats = terminalreporter.stats
    counts = {
        outcome: sum(1 for r in stats.get(outcome, []) if "postgres" in getattr(r, "keywords", {}))
        for outcome in ("passed", "failed", "skipped", "error")
    }
    terminalreporter.write_sep("-", "PostgreSQL-backed tests")
    terminalreporter.write_line(
        ", ".join(f"{n} {outcome}" for outcome, n in counts.items()) + " (marked postgres)"
    )
