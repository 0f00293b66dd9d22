"""Shared set-up for the audit tests: a deployment with events, and the CLI against it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, text

from ostiary.audit.entries import document_of, fields_of
from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import AuditLog, AuditReader
from ostiary.store.repositories.audit_integrity import Integrity, prune
from tests.support.deploy import Deployment
from tests.support.server import run_cli

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def hashed_document(event: AuditEvent, event_id: str, time: str) -> dict[str, Any]:
    """What the append builds for ``event``."""
    return document_of(fields_of(event), event_id, time)


def append_events(
    dep: Deployment, count: int, start: datetime = START, *, action: str = "scim.user.create"
) -> list[str]:
    ids = []
    for i in range(count):
        event = AuditEvent(
            action=action,
            actor=Actor(kind="key", id="k1AbCdEfGhIj", auth="bearer_key", key_version=1),
            target_type="User",
            target_id=f"user-{i}",
            request=RequestInfo(source_ip="192.0.2.7", user_agent="test", request_id=f"r{i}"),
            after={"userName": f"u{i}", "password": "secret!"},
        )
        with dep.db.begin() as conn:
            ids.append(AuditLog(conn).append(event, start + timedelta(minutes=i)))
    return ids


def checkpoint(dep: Deployment, at: datetime | None = None) -> Any:
    vault = bootstrap.open_vault(dep.settings, dep.db)
    with dep.db.begin() as conn:
        return Integrity(conn, vault).checkpoint("test", at or START)[1]


def head_of(dep: Deployment) -> tuple[int, bytes | None]:
    """The log's tree size and last leaf hash, as readers see them."""
    with dep.db.read() as conn:
        return AuditReader(conn).head()


def leaf_at(dep: Deployment, position: int) -> bytes:
    """The stored leaf hash of the event at ``position``."""
    with dep.db.read() as conn:
        sql = text("SELECT leaf_hash FROM audit_events WHERE seq = :p")
        return bytes(conn.execute(sql, {"p": position}).scalar_one())


def verifies(dep: Deployment) -> bool:
    """Whether ``Integrity.verify`` finds the log intact."""
    vault = bootstrap.open_vault(dep.settings, dep.db)
    with dep.db.read() as conn:
        return Integrity(conn, vault).verify().ok


def prune_everything(dep: Deployment, db: Any = None) -> tuple[int, int]:
    """Checkpoint (a day after START) and prune every event (as of 30 days after it)
    behind that checkpoint, through ``db`` (default: the deployment's); what prune says
    it removed."""
    db = db or dep.db
    vault = bootstrap.open_vault(dep.settings, db)
    with db.begin() as conn:
        Integrity(conn, vault).checkpoint("test", START + timedelta(days=1))
    later = START + timedelta(days=30)
    with db.begin() as conn:
        return prune(conn, vault, later, None, later)


def cli_env(dep: Deployment, **extra: str) -> dict[str, str]:
    return {
        "OSTIARY_DATABASE_URL": dep.settings.database_url,
        "OSTIARY_MASTER_KEY_FILE": str(dep.settings.master_key_file),
        "OSTIARY_CONFIG": str(dep.settings.master_key_file.parent / "none.toml"),
        **extra,
    }


def verify(dep: Deployment, *args: str) -> tuple[int, dict[str, Any]]:
    cwd = dep.settings.master_key_file.parent
    result = run_cli("audit", "verify", "--json", *args, env=cli_env(dep), cwd=cwd)
    assert result.returncode in {0, 1}, result.stderr
    return result.returncode, json.loads(result.stdout)


def tamper(dep: Deployment, *statements: str, **params: Any) -> None:
    """Edit the audit table as someone with direct database access would: on PostgreSQL
    that means a superuser switching the append-only trigger off first."""
    with dep.db.begin() as conn:
        pg = conn.dialect.name == "postgresql"
        if pg:
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
        for statement in statements:
            conn.execute(text(statement), params)
        if pg:
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))


def position_id(dep: Deployment, position: int) -> str:
    with dep.db.read() as conn:
        return str(
            conn.execute(
                text("SELECT id FROM audit_events WHERE seq = :p"), {"p": position}
            ).scalar()
        )


def statements(dep: Deployment, needle: str, work: Callable[[], Any]) -> list[tuple[str, Any]]:
    """The statements (and parameters) containing ``needle`` that ``work`` sends."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if needle in statement:
            seen.append((statement, parameters))

    event.listen(dep.db.engine, "before_cursor_execute", record)
    try:
        work()
    finally:
        event.remove(dep.db.engine, "before_cursor_execute", record)
    return seen


def plan_of(dep: Deployment, statement: str, parameters: Any) -> str:
    """The query plan of ``statement`` after ANALYZE, sequential scans discouraged on
    PostgreSQL (a tiny table's would win): which indexes can serve it, and how."""
    pg = dep.settings.database_url.startswith("postgresql")
    with dep.db.begin() as conn:
        conn.execute(text("ANALYZE"))
        if pg:
            conn.execute(text("SET LOCAL enable_seqscan = off"))
        explain = "EXPLAIN " if pg else "EXPLAIN QUERY PLAN "
        rows = conn.exec_driver_sql(explain + statement, parameters)
        return "\n".join(str(row[-1]) for row in rows)
