"""The ``ostiary`` command as a real process against a deployment of its own: the
environment that points it at one, the call, and what it left in the database (the audit
rows, the database files' bytes, to prove a secret is not stored in clear)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ostiary.store.db import Database
from ostiary.store.tables_audit import audit_events
from tests.support.server import run_cli


def cli_env(root: Path) -> dict[str, str]:
    """SQLite database and master key under ``root``/var, and no configuration file (a
    developer's own ostiary.toml must not leak into a test)."""
    return {
        "OSTIARY_DATABASE_URL": f"sqlite:///{root / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(root / "var" / "master.key"),
        "OSTIARY_CONFIG": str(root / "none.toml"),
    }


@dataclass(frozen=True)
class Cli:
    """``ostiary`` run in ``cwd`` with ``env`` (merged over this process's environment)."""

    cwd: Path
    env: dict[str, str]

    @classmethod
    def under(cls, root: Path, **extra: str) -> Cli:
        """A deployment of its own under ``root`` (see :func:`cli_env`), plus ``extra``."""
        return cls(root, cli_env(root) | extra)

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, cwd=self.cwd)

    def json(self, *args: str) -> Any:
        """The ``--json`` answer of a command that must succeed."""
        result = self(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def audit_rows(self, action_like: str | None = None) -> list[Any]:
        """Every audit row (``action``, ``entry``), or those whose action is LIKE
        ``action_like``, read straight from the database the commands wrote."""
        query = select(audit_events.c.action, audit_events.c.entry)
        if action_like is not None:
            query = query.where(audit_events.c.action.like(action_like))
        db = Database(self.env["OSTIARY_DATABASE_URL"], pool_size=1)
        try:
            with db.read() as conn:
                return list(conn.execute(query).all())
        finally:
            db.dispose()

    def database_bytes(self) -> bytes:
        """The SQLite database's files (main, WAL, shared memory) as stored."""
        path = Path(self.env["OSTIARY_DATABASE_URL"].removeprefix("sqlite:///"))
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


# The client most ``ostiary clients`` tests start from: confidential, one redirect URI.
CREATE_WIKI = (
    "clients",
    "create",
    "--name",
    "wiki",
    "--redirect-uri",
    "https://wiki.example.com/cb",
)
