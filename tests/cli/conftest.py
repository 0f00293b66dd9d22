"""Every ``ostiary`` command test runs the real process against a deployment of its own in
the test's tmp_path (tests/support/cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli.under(tmp_path)
