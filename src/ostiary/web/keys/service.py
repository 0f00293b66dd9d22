"""Key management operations shared by the admin API and the CLI.

Each operation is one transaction that changes the key and appends its audit event with
the acting identity; afterwards the key is dropped from every node's cache (revocation
and disabling take effect at once) and a webhook event is queued where one is due.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from ostiary.audit.events import SYSTEM, Actor, AuditEvent, RequestInfo
from ostiary.core.clock import Clock, as_utc
from ostiary.core.errors import NotFound
from ostiary.core.settings import Settings
from ostiary.keys import format as key_format
from ostiary.keys.anomaly import Action, Anomaly
from ostiary.keys.errors import PolicyViolation
from ostiary.keys.lifecycle import KeyPolicy, NewKey, Rotation, create_key, rotate_secret
from ostiary.keys.models import KeyBinding, KeyRecord, KeyStatus
from ostiary.keys.restrictions import validate_attributes, validate_cidrs
from ostiary.store.db import Database
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.repositories.owners import OwnerRepository, resolve_user
from ostiary.store.tables_owners import KEY
from ostiary.web.keys.runtime import KeyRuntime

TARGET = "ProvisioningKey"


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value else None


def key_summary(record: KeyRecord) -> dict[str, Any]:
    """What may be shown about a key: never a secret or its HMAC."""
    current = record.current_secret
    b = record.binding
    return {
        "id": record.id,
        "name": record.name,
        "description": record.description,
        "display": key_format.display(record.id, current.last4 if current else "????"),
        "scopes": sorted(record.scopes),
        "status": record.status.value,
        "version": record.current_version,
        "created_at": _iso(record.created_at),
        "expires_at": _iso(record.expires_at),
        "last_used_at": _iso(record.last_used_at),
        "last_used_ip": record.last_used_ip,
        "created_by": record.created_by,
        "require_dpop": b.require_dpop,
        "allowed_cidrs": list(b.allowed_cidrs),
        "attributes": {k: sorted(v) for k, v in b.attributes.items()} if b.attributes else None,
        "rotate_every_seconds": int(b.rotate_every.total_seconds()) if b.rotate_every else None,
        "next_rotation_at": _iso(b.next_rotation_at),
        "delivery": {"kind": b.delivery.get("kind")} if b.delivery else None,
        "secrets": [
            {"version": s.version, "last4": s.last4, "not_after": _iso(s.not_after)}
            for s in record.secrets
        ],
    }


def build_binding(
    *,
    require_dpop: bool = False,
    allowed_cidrs: list[str] | None = None,
    attributes: dict[str, list[str]] | None = None,
    rotate_every: timedelta | None = None,
    rotation_overlap: timedelta = timedelta(hours=24),
    delivery: dict[str, Any] | None = None,
    now: datetime | None = None,
    base: KeyBinding | None = None,
) -> KeyBinding:
    if delivery is not None and delivery.get("kind") not in {"webhook", "file"}:
        raise PolicyViolation("delivery kind must be 'webhook' or 'file'")
    if delivery and not (delivery.get("url") or delivery.get("path")):
        raise PolicyViolation("a delivery needs a url (webhook) or a path (file)")
    if rotate_every is not None and rotate_every < timedelta(hours=1):
        raise PolicyViolation("scheduled rotation must be at least an hour apart")
    if rotate_every is not None and delivery is None:
        raise PolicyViolation("scheduled rotation needs a delivery destination (--deliver-to)")
    b = base or KeyBinding()
    return replace(
        b,
        require_dpop=require_dpop,
        allowed_cidrs=validate_cidrs(allowed_cidrs or []),
        attributes=validate_attributes(attributes) if attributes else None,
        rotate_every=rotate_every,
        rotation_overlap=rotation_overlap,
        delivery=delivery,
        next_rotation_at=(now + rotate_every) if rotate_every and now else b.next_rotation_at,
    )


class KeyService:
    def __init__(
        self, settings: Settings, db: Database, pepper: bytes, clock: Clock, runtime: KeyRuntime
    ) -> None:
        self.settings = settings
        self.db = db
        self.pepper = pepper
        self.clock = clock
        self.runtime = runtime

    @property
    def policy(self) -> KeyPolicy:
        s = self.settings
        return KeyPolicy(
            max_lifetime=timedelta(days=s.key_max_lifetime_days),
            default_lifetime=timedelta(days=s.key_default_lifetime_days),
        )

    def _audit(self, conn: Any, action: str, actor: Actor, key_id: str, **kw: Any) -> None:
        event = AuditEvent(action=action, actor=actor, target_type=TARGET, target_id=key_id, **kw)
        AuditLog(conn).append(event, self.clock.now())

    def get(self, key_id: str) -> KeyRecord:
        with self.db.read() as conn:
            return KeyRepository(conn).require(key_id)

    def all_keys(self) -> list[KeyRecord]:
        with self.db.read() as conn:
            return KeyRepository(conn).list()

    def create(
        self,
        actor: Actor,
        *,
        name: str,
        scopes: list[str],
        lifetime: timedelta | None = None,
        description: str = "",
        held_scopes: frozenset[str] | None = None,
        binding: KeyBinding | None = None,
        request: RequestInfo | None = None,
        owner: str | None = None,
    ) -> NewKey:
        """``owner`` (a user id or userName): deprovisioning that user revokes the key."""
        new = create_key(
            name=name,
            scopes=scopes,
            now=self.clock.now(),
            pepper=self.pepper,
            policy=self.policy,
            lifetime=lifetime,
            created_by=f"{actor.kind}:{actor.id}",
            held_scopes=held_scopes,
            description=description,
        )
        record = replace(new.record, binding=binding or KeyBinding())
        with self.db.begin() as conn:
            KeyRepository(conn).add(record)
            owner_id = self._own(conn, record.id, owner)
            self._audit(
                conn,
                "key.create",
                actor,
                record.id,
                request=request or RequestInfo(),
                after=key_summary(record) | ({"owner_user_id": owner_id} if owner else {}),
            )
        return NewKey(token=new.token, record=record)

    def _own(self, conn: Any, key_id: str, owner: str | None) -> str | None:
        if owner is None:
            return None
        try:
            owner_id = resolve_user(conn, owner)
        except NotFound as exc:
            raise PolicyViolation(f"owner: {exc}") from None
        OwnerRepository(conn).set(KEY, key_id, owner_id, self.clock.now())
        return owner_id

    def rotate(
        self, actor: Actor, key_id: str, overlap: timedelta, request: RequestInfo | None = None
    ) -> tuple[Rotation, KeyRecord]:
        now = self.clock.now()
        with self.db.begin() as conn:
            repo = KeyRepository(conn)
            record = repo.require(key_id)
            rot = rotate_secret(
                record, now=now, pepper=self.pepper, overlap=overlap, policy=self.policy
            )
            self._apply_rotation(repo, record, rot, now)
            self._audit(
                conn,
                "key.rotate",
                actor,
                key_id,
                request=request or RequestInfo(),
                detail={"version": rot.secret.version, "overlap_seconds": overlap.total_seconds()},
            )
            after = repo.require(key_id)
        self.runtime.invalidate(key_id)
        return rot, after

    def _apply_rotation(
        self, repo: KeyRepository, record: KeyRecord, rot: Rotation, now: datetime
    ) -> None:
        repo.add_secret(record.id, rot.secret)
        for version, not_after in rot.ended:
            repo.end_secret(record.id, version, not_after)
        repo.set_expiry(record.id, rot.expires_at)
        b = record.binding
        nxt = now + b.rotate_every if b.rotate_every else None
        repo.set_binding(record.id, replace(b, warnings_sent=(), next_rotation_at=nxt))

    def set_status(
        self,
        actor: Actor,
        key_id: str,
        status: KeyStatus,
        *,
        request: RequestInfo | None = None,
        reason: str | None = None,
    ) -> KeyRecord:
        with self.db.begin() as conn:
            repo = KeyRepository(conn)
            record = repo.require(key_id)
            if record.status is KeyStatus.REVOKED:
                raise PolicyViolation(f"key {key_id} is revoked; revocation is final")
            repo.set_status(key_id, status, self.clock.now())
            action = {"active": "key.enable", "disabled": "key.disable", "revoked": "key.revoke"}
            self._audit(
                conn,
                action[status.value],
                actor,
                key_id,
                request=request or RequestInfo(),
                before={"status": record.status.value},
                after={"status": status.value},
                detail={"reason": reason} if reason else {},
            )
            after = repo.require(key_id)
        self.runtime.invalidate(key_id)
        return after

    def update_binding(
        self, actor: Actor, key_id: str, binding: KeyBinding, request: RequestInfo | None = None
    ) -> KeyRecord:
        with self.db.begin() as conn:
            repo = KeyRepository(conn)
            before = repo.require(key_id)
            repo.set_binding(key_id, binding)
            after = repo.require(key_id)
            self._audit(
                conn,
                "key.update",
                actor,
                key_id,
                request=request or RequestInfo(),
                before=key_summary(before),
                after=key_summary(after),
            )
        self.runtime.invalidate(key_id)
        return after

    def security_event(self, anomaly: Anomaly, request: RequestInfo | None = None) -> None:
        """Audit a finding, apply its action (require DPoP, suspend) and send the webhook."""
        now = self.clock.now()
        applied = None
        with self.db.begin() as conn:
            repo = KeyRepository(conn)
            record = repo.get(anomaly.key_id)
            self._audit(
                conn,
                f"key.anomaly.{anomaly.kind.value}",
                SYSTEM,
                anomaly.key_id,
                request=request or RequestInfo(),
                detail={**anomaly.detail, "action": anomaly.action.value},
            )
            if record is not None and record.status is KeyStatus.ACTIVE:
                if anomaly.action is Action.SUSPEND:
                    repo.set_status(record.id, KeyStatus.DISABLED, now)
                    applied = "key.suspend"
                elif anomaly.action is Action.REQUIRE_DPOP and not record.binding.require_dpop:
                    repo.set_binding(record.id, replace(record.binding, require_dpop=True))
                    applied = "key.require_dpop"
            if applied:
                self._audit(
                    conn, applied, SYSTEM, anomaly.key_id, detail={"anomaly": anomaly.kind.value}
                )
        if applied:
            self.runtime.invalidate(anomaly.key_id)
        self.runtime.notifier.emit(
            {
                "event": "key.security_event",
                "kind": anomaly.kind.value,
                "key_id": anomaly.key_id,
                "action": anomaly.action.value,
                "applied": applied,
                "detail": anomaly.detail,
                "time": now.isoformat(),
            }
        )

    def require_existing(self, key_id: str) -> None:
        with self.db.read() as conn:
            if KeyRepository(conn).get(key_id) is None:
                raise NotFound(f"no provisioning key {key_id}")
