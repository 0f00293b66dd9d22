"""Helpers for key tests: an app on a real deployment with chosen settings, admin tokens,
and a counter of SQL statements (to prove what touched the database)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.keys.admin_tokens import create_admin_token
from ostiary.store.db import Database
from ostiary.store.repositories.admin_tokens import AdminTokenRepository
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy

ALL_ADMIN = ["keys:read", "keys:write", "keys:revoke", "approvals:decide"]
ALL_KEY = ["users:read", "users:write", "groups:read", "groups:write", "users:deprovision", "bulk"]


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}


@contextmanager
def app_client(
    database_url: str, tmp: Path, clock: FrozenClock, ip: str = "192.0.2.10", **overrides: Any
) -> Iterator[tuple[TestClient, Deployment]]:
    dep = deploy(database_url, tmp, **overrides)
    app = create_app(dep.settings, clock=clock)
    try:
        with TestClient(app, client=(ip, 50000)) as tc:
            yield tc, dep
    finally:
        app.state.ctx.db.dispose()
        dep.db.dispose()


def other_ip(tc: TestClient, ip: str) -> TestClient:
    """Another source address against the same running app (no second lifespan)."""
    return TestClient(tc.app, client=(ip, 50001))


def admin_token(dep: Deployment, clock: FrozenClock, scopes: list[str] | None = None) -> str:
    token, record = create_admin_token(
        name="automation",
        scopes=scopes or [*ALL_ADMIN, *ALL_KEY],
        now=clock.now(),
        pepper=dep.pepper(),
        lifetime=__import__("datetime").timedelta(days=30),
    )
    with dep.db.begin() as conn:
        AdminTokenRepository(conn).add(record)
    return token


class StatementCounter:
    """Counts SQL statements on an engine that match a pattern (real queries, counted)."""

    def __init__(self, db: Database, pattern: str) -> None:
        self.count = 0
        self._re = re.compile(pattern, re.I | re.S)
        self._engine = db.engine
        event.listen(self._engine, "before_cursor_execute", self._on)

    def _on(self, _conn: Any, _cur: Any, statement: str, *_args: Any) -> None:
        if self._re.search(statement):
            self.count += 1

    def close(self) -> None:
        event.remove(self._engine, "before_cursor_execute", self._on)
