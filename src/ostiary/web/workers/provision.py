"""The outbox sender for outbound provisioning (topic ``provision``).

A message names a resource (``{"type": "User"|"Group", "id", "name"}``) and a target. The
sender reads the resource as it is now and pushes that state with the sync agent's SCIM
client (:mod:`ostiary.sync.outbound`), so retries and reordering are harmless. After a
push it reads the resource's version again: if a change landed meanwhile (another node
may have pushed the newer state first, and ours would then be stale), it pushes again.
Failures become :class:`DeliveryFailed`, which the outbox retries with backoff.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection

from ostiary.core.crypto.vault import Vault
from ostiary.directory.models import User
from ostiary.scim.users import render_user
from ostiary.signals.errors import DeliveryFailed
from ostiary.signals.outbox import OutboxMessage
from ostiary.store.db import Database
from ostiary.store.repositories.groups import GroupRepository
from ostiary.store.repositories.provisioning import ProvisioningRepository, ProvisioningTarget
from ostiary.store.repositories.users import UserRepository
from ostiary.sync.auth import BearerAuth
from ostiary.sync.client import ScimClient
from ostiary.sync.errors import SyncError
from ostiary.sync.mapping import ostiary_mapping
from ostiary.sync.outbound import Member, push_group, push_user
from ostiary.sync.secrets import SecretRef
from ostiary.sync.sources import flatten

PASSES = 3  # pushes per message while the resource keeps changing under us


def resolve_token(repo: ProvisioningRepository, target: ProvisioningTarget) -> str | None:
    """The target's credential: sealed in the vault, or a reference resolved now."""
    sealed = repo.sealed_token(target)
    if sealed is not None:
        return sealed
    ref = target.token_ref
    if not ref:
        return None
    kind, where = next(iter(ref.items()))
    return SecretRef(kind, tuple(where) if isinstance(where, list) else str(where)).resolve()


def user_record(conn: Connection, user: User, base: str) -> dict[str, Any]:
    groups = GroupRepository(conn).groups_of(user.id)
    record = flatten(render_user(user, base))
    record["groups"] = sorted(name for _, name in groups)
    return record


def in_scope(conn: Connection, target: ProvisioningTarget, user_id: str) -> bool:
    if target.group_id is None:
        return True
    return bool(GroupRepository(conn).member_ids_among(target.group_id, [user_id]))


def read_member(conn: Connection, target: ProvisioningTarget, user_id: str, base: str) -> Member:
    user = UserRepository(conn).get(user_id)
    if user is None:
        return Member(user_id, "", None)
    scoped = in_scope(conn, target, user_id)
    return Member(user_id, user.user_name, user_record(conn, user, base) if scoped else None)


def version_of(conn: Connection, kind: str, rid: str) -> int | None:
    found: Any = UserRepository(conn).get(rid) if kind == "User" else GroupRepository(conn).get(rid)
    return None if found is None else int(found.version)


@dataclass
class _Client:
    url: str
    token: str | None
    client: ScimClient


class ProvisionSender:
    def __init__(self, db: Database, vault: Vault, base: str, *, timeout: float = 10.0):
        self.db, self.vault, self.base = db, vault, base
        self.timeout = timeout
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()
        self.mapping = ostiary_mapping()

    def _client(self, target: ProvisioningTarget, token: str | None) -> ScimClient:
        with self._lock:
            held = self._clients.get(target.id)
            if held is not None and (held.url, held.token) == (target.url, token):
                return held.client
            if held is not None:
                held.client.close()
            # Few retries inside one attempt: the outbox's own backoff covers outages.
            client = ScimClient(
                target.url,
                auth=BearerAuth(token) if token else None,
                timeout=self.timeout,
                max_retries=1,
            )
            self._clients[target.id] = _Client(target.url, token, client)
            return client

    def close(self) -> None:
        with self._lock:
            for held in self._clients.values():
                held.client.close()
            self._clients.clear()

    def __call__(self, message: OutboxMessage) -> None:
        kind = str(message.payload.get("type"))
        rid = str(message.payload.get("id"))
        name = str(message.payload.get("name") or "")
        with self.db.read() as conn:
            repo = ProvisioningRepository(conn, self.vault)
            target = repo.get(message.destination)
            if target is None or not target.enabled:
                raise DeliveryFailed("provisioning target removed or disabled", retryable=False)
            try:
                token = resolve_token(repo, target)
            except SyncError as exc:
                raise DeliveryFailed(f"target {target.name}: {exc}") from None
        client = self._client(target, token)
        for _ in range(PASSES):
            with self.db.read() as conn:
                version = version_of(conn, kind, rid)
            self._push(client, target, kind, rid, name)
            with self.db.read() as conn:
                if version_of(conn, kind, rid) == version:
                    return
        # Still changing: each of those changes queued its own message, which pushes later.

    def _push(
        self, client: ScimClient, target: ProvisioningTarget, kind: str, rid: str, name: str
    ) -> None:
        try:
            if kind == "User":
                with self.db.read() as conn:
                    member = read_member(conn, target, rid, self.base)
                member = Member(rid, member.user_name or name, member.record)
                _, summary = push_user(client, self.mapping, member, delete=target.delete_users)
            elif kind == "Group":
                group_name, members = self._group(target, rid, name)
                _, summary = push_group(
                    client, self.mapping, group_name, members, delete=target.delete_users
                )
            else:
                raise DeliveryFailed(f"unknown resource type {kind!r}", retryable=False)
        except SyncError as exc:
            raise DeliveryFailed(f"target {target.name}: {exc}") from None
        if summary.failures:
            raise DeliveryFailed(f"target {target.name}: {'; '.join(summary.failures[:3])}")

    def _group(
        self, target: ProvisioningTarget, rid: str, name: str
    ) -> tuple[str, list[Member] | None]:
        with self.db.read() as conn:
            group = GroupRepository(conn).get(rid)
            if group is None:
                return name, None
            ids = [m.id for m in GroupRepository(conn).members(rid) if m.type == "User"]
            members = [read_member(conn, target, uid, self.base) for uid in ids]
        return group.display_name, members
