from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.deploy import Deployment, deploy
from tests.support.services import scratch_postgres_database


@pytest.fixture
def postgres_deployment(tmp_path: Path) -> Iterator[Deployment]:
    with scratch_postgres_database() as url:
        dep = deploy(url, tmp_path)
        yield dep
        dep.db.dispose()


@pytest.fixture
def sqlite_deployment(tmp_path: Path) -> Iterator[Deployment]:
    dep = deploy(f"sqlite:///{tmp_path / 'ostiary.db'}", tmp_path)
    yield dep
    dep.db.dispose()
