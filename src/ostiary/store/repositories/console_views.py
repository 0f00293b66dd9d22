"""Read models for the admin console: counts and the newest audit events first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, func, select

from ostiary.store.repositories.audit import AuditQuery, AuditReader
from ostiary.store.tables import groups, provisioning_keys, users
from ostiary.store.tables_oidc import oidc_clients


def _count(conn: Connection, stmt: Select[Any]) -> int:
    return int(conn.execute(stmt).scalar_one())


def directory_counts(conn: Connection) -> dict[str, int]:
    return {
        "users": _count(conn, select(func.count()).select_from(users)),
        "active_users": _count(conn, select(func.count()).where(users.c.active.is_(True))),
        "groups": _count(conn, select(func.count()).select_from(groups)),
    }


def client_count(conn: Connection) -> int:
    return _count(conn, select(func.count()).select_from(oidc_clients))


def key_counts(conn: Connection) -> dict[str, int]:
    stmt = select(provisioning_keys.c.status, func.count()).group_by(provisioning_keys.c.status)
    return {status: int(n) for status, n in conn.execute(stmt)}


@dataclass(frozen=True)
class EventFilter:
    action: str | None = None  # exact, or a prefix ending in '*'
    actor: str | None = None
    target: str | None = None
    outcome: str | None = None
    since: datetime | None = None
    before_seq: int | None = None  # keyset cursor: older than this


def newest_events(conn: Connection, f: EventFilter, limit: int = 50) -> list[dict[str, Any]]:
    """Events newest first (the console shows what just happened), each with its seq:
    the audit reader's search, so each filter uses its index (audit_search)."""
    q = AuditQuery(
        actor=f.actor,
        target=f.target,
        action=f.action,
        outcome=f.outcome,
        since=f.since,
        before_seq=f.before_seq,
        limit=max(1, min(limit, 200)),
        newest_first=True,
    )
    return AuditReader(conn).search(q)[0]
