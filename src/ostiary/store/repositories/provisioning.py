"""Outbound provisioning targets, and queueing a push to each of them.

A SCIM write of a User or Group calls :meth:`ProvisioningRepository.enqueue` in its own
transaction: one outbox message per enabled target, naming the resource, not the change.
The sender pushes the resource's state at send time (see ``ostiary.sync.outbound``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from ostiary.core.crypto.vault import Vault
from ostiary.core.ids import new_id
from ostiary.directory.models import User
from ostiary.signals.outbox import Status
from ostiary.store.repositories.outbox import OutboxRepository
from ostiary.store.repositories.users import row_to_user
from ostiary.store.tables import group_members, groups, users
from ostiary.store.tables_provisioning import provisioning_targets as pt
from ostiary.store.tables_signals import outbox

TOPIC = "provision"
_ANY_ENABLED = "SELECT 1 FROM provisioning_targets WHERE enabled LIMIT 1"


@dataclass(frozen=True)
class ProvisioningTarget:
    id: str
    name: str
    url: str
    token_ref: dict[str, Any] | None = None
    group_id: str | None = None
    delete_users: bool = False
    enabled: bool = True
    created_at: datetime | None = None
    token_sealed: str | None = field(default=None, repr=False)


def _target(r: Row[Any]) -> ProvisioningTarget:
    return ProvisioningTarget(
        id=r.id,
        name=r.name,
        url=r.url,
        token_ref=r.token_ref,
        group_id=r.group_id,
        delete_users=r.delete_users,
        enabled=r.enabled,
        created_at=r.created_at,
        token_sealed=r.token_sealed,
    )


def _context(target_id: str) -> str:
    return f"provisioning:{target_id}"


class ProvisioningRepository:
    def __init__(self, conn: Connection, vault: Vault | None = None) -> None:
        self._conn = conn
        self._vault = vault

    def add(
        self,
        name: str,
        url: str,
        now: datetime,
        *,
        token_ref: dict[str, Any] | None = None,
        token: str | None = None,
        group_id: str | None = None,
        delete_users: bool = False,
    ) -> ProvisioningTarget:
        target_id = new_id()
        sealed = None
        if token is not None:
            assert self._vault is not None, "sealing a token needs the vault"
            sealed = self._vault.seal(token.encode(), _context(target_id))
        values: dict[str, Any] = {
            "id": target_id,
            "name": name,
            "url": url,
            "token_ref": token_ref,
            "token_sealed": sealed,
            "group_id": group_id,
            "delete_users": delete_users,
            "enabled": True,
            "created_at": now,
        }
        self._conn.execute(insert(pt).values(**values))
        return ProvisioningTarget(**values)

    def get(self, target_id: str) -> ProvisioningTarget | None:
        row = self._conn.execute(select(pt).where(pt.c.id == target_id)).first()
        return None if row is None else _target(row)

    def by_name(self, name: str) -> ProvisioningTarget | None:
        row = self._conn.execute(select(pt).where(pt.c.name == name)).first()
        return None if row is None else _target(row)

    def all(self) -> list[ProvisioningTarget]:
        return [_target(r) for r in self._conn.execute(select(pt).order_by(pt.c.name))]

    def remove(self, name: str) -> bool:
        return bool(self._conn.execute(delete(pt).where(pt.c.name == name)).rowcount)

    def set_enabled(self, name: str, enabled: bool) -> bool:
        stmt = update(pt).where(pt.c.name == name).values(enabled=enabled)
        return bool(self._conn.execute(stmt).rowcount)

    def sealed_token(self, target: ProvisioningTarget) -> str | None:
        if target.token_sealed is None:
            return None
        assert self._vault is not None, "opening a token needs the vault"
        return self._vault.open(target.token_sealed, _context(target.id)).decode()

    def enabled_targets(self) -> list[ProvisioningTarget]:
        """Every enabled target. Every audited SCIM write asks, and most deployments have
        none: one driver-level probe answers that case (read in the caller's transaction,
        like the full read, so nothing is cached across writes)."""
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_ANY_ENABLED)
            if cursor.fetchone() is None:
                return []
        finally:
            cursor.close()
        return [t for t in self.all() if t.enabled]

    def enqueue(
        self,
        kind: str,
        resource_id: str,
        name: str,
        now: datetime,
        targets: list[ProvisioningTarget] | None = None,
    ) -> int:
        """Queue a push of one User or Group to every enabled target (or ``targets``).
        ``name`` (userName / displayName) finds the downstream copy once the resource is
        deleted here."""
        chosen = self.enabled_targets() if targets is None else targets
        box = OutboxRepository(self._conn)
        payload = {"type": kind, "id": resource_id, "name": name}
        for target in chosen:
            box.enqueue(TOPIC, target.id, payload, now)
        return len(chosen)

    def counts(self) -> dict[str, dict[str, int]]:
        """Outbox messages per target id and status (pending, delivered, dead)."""
        stmt = (
            select(outbox.c.destination, outbox.c.status, func.count())
            .where(outbox.c.topic == TOPIC)
            .group_by(outbox.c.destination, outbox.c.status)
        )
        out: dict[str, dict[str, int]] = {}
        for dest, status, n in self._conn.execute(stmt):
            out.setdefault(dest, {s.value: 0 for s in Status})[status] = int(n)
        return out


def snapshot(conn: Connection, group_id: str | None) -> list[tuple[User, list[str]]]:
    """Every user (or only ``group_id``'s direct members) with the names of its direct
    groups, in three queries: the full reconciliation (backfill) of a new target."""
    q = select(users).order_by(users.c.id)
    if group_id is not None:
        inside = select(group_members.c.member_id).where(group_members.c.group_id == group_id)
        q = q.where(users.c.id.in_(inside))
    names: dict[str, list[str]] = {}
    joined = select(group_members.c.member_id, groups.c.display_name).join(
        groups, groups.c.id == group_members.c.group_id
    )
    for member_id, name in conn.execute(joined):
        names.setdefault(member_id, []).append(name)
    return [(row_to_user(r), sorted(names.get(r.id, []))) for r in conn.execute(q)]


def group_id_named(conn: Connection, display_name: str) -> str | None:
    """The id of the group called ``display_name`` (a target's filter is named by humans)."""
    stmt = select(groups.c.id).where(groups.c.display_name == display_name)
    return conn.execute(stmt).scalar()
