"""Due rotations and expiry warnings: ``ostiary keys run-scheduler`` or a thread in serve.

A scheduled rotation is first claimed (one conditional UPDATE, so one node does it), then
the new secret is delivered *before* it is committed: if the destination is unreachable
nothing changes but the claim (the old secret keeps working; a run after the 10-minute
lease retries), so a rotation never leaves the only copy of a live secret nowhere.
Warnings 14, 7 and 1 days (``OSTIARY_KEY_EXPIRY_WARNING_DAYS``) before expiry become
audit events and webhook events (published to the outbox), each once per expiry date.
The rotated secret itself is posted synchronously, never queued: it must be delivered
before the rotation commits, and so it is never stored, sealed or not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.core.clock import as_utc
from ostiary.keys.lifecycle import Rotation, due_warning, rotate_secret, rotation_due
from ostiary.keys.models import KeyRecord
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.keys import KeyRepository
from ostiary.web.keys.notify import post_signed, write_secret_file
from ostiary.web.keys.service import TARGET, KeyService
from ostiary.web.logs import get_logger

log = get_logger("ostiary.keys.scheduler")
RETRY_AFTER = timedelta(minutes=10)  # the claim's lease: a failed delivery retries then


@dataclass
class SchedulerReport:
    rotated: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    warned: list[tuple[str, int]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rotated": self.rotated,
            "failed": self.failed,
            "warned": [{"key_id": k, "days": d} for k, d in self.warned],
        }


def deliver(delivery: dict[str, Any], doc: dict[str, Any], secret: Callable[[], bytes]) -> bool:
    if delivery.get("kind") == "file":
        try:
            write_secret_file(Path(delivery["path"]), doc)
        except OSError as exc:
            log.warning("keys.delivery.file_failed", error=type(exc).__name__)
            return False
        return True
    return post_signed(str(delivery["url"]), secret(), doc)


def _delivery_doc(record: KeyRecord, rot: Rotation) -> dict[str, Any]:
    previous = [na for _, na in rot.ended]
    return {
        "event": "key.rotated",
        "key_id": record.id,
        "name": record.name,
        "version": rot.secret.version,
        "key": rot.token,
        "expires_at": as_utc(rot.expires_at).isoformat(),
        "previous_valid_until": as_utc(max(previous)).isoformat() if previous else None,
    }


def _rotate(svc: KeyService, record: KeyRecord, now: datetime, secret: Callable[[], bytes]) -> bool:
    b = record.binding
    with svc.db.begin() as conn:
        if not KeyRepository(conn).claim_rotation(record.id, now, now + RETRY_AFTER):
            return False  # another node or worker holds it
    rot = rotate_secret(
        record, now=now, pepper=svc.pepper, overlap=b.rotation_overlap, policy=svc.policy
    )
    if b.delivery is None or not deliver(b.delivery, _delivery_doc(record, rot), secret):
        with svc.db.begin() as conn:
            AuditLog(conn).append(
                AuditEvent(
                    action="key.rotate.delivery_failed",
                    actor=SYSTEM,
                    outcome="failure",
                    target_type=TARGET,
                    target_id=record.id,
                    detail={"destination": (b.delivery or {}).get("kind")},
                ),
                now,
            )
        return False
    with svc.db.begin() as conn:
        repo = KeyRepository(conn)
        current = repo.require(record.id)
        if current.current_version != record.current_version:
            return False  # another node rotated meanwhile; its secret was delivered
        svc._apply_rotation(repo, current, rot, now)
        AuditLog(conn).append(
            AuditEvent(
                action="key.rotate",
                actor=SYSTEM,
                target_type=TARGET,
                target_id=record.id,
                detail={
                    "version": rot.secret.version,
                    "scheduled": True,
                    "destination": b.delivery.get("kind"),
                },
            ),
            now,
        )
    svc.runtime.invalidate(record.id)
    return True


def _warn(svc: KeyService, record: KeyRecord, days: int, now: datetime) -> None:
    sent = tuple(
        sorted(
            set(record.binding.warnings_sent)
            | {d for d in svc.settings.key_expiry_warning_days if d >= days}
        )
    )
    expires_at = as_utc(record.expires_at).isoformat()
    # One transaction: a warning marked sent is always queued for the webhooks too.
    with svc.db.begin() as conn:
        KeyRepository(conn).set_binding(record.id, replace(record.binding, warnings_sent=sent))
        AuditLog(conn).append(
            AuditEvent(
                action="key.expiry_warning",
                actor=SYSTEM,
                target_type=TARGET,
                target_id=record.id,
                detail={"days": days, "expires_at": expires_at},
            ),
            now,
        )
        doc = {"event": "key.expiry_warning", "key_id": record.id, "name": record.name}
        svc.runtime.notifier.queue(conn, doc | {"days": days, "expires_at": expires_at})


def run_due(svc: KeyService, secret: Callable[[], bytes]) -> SchedulerReport:
    now = svc.clock.now()
    report = SchedulerReport()
    days = tuple(svc.settings.key_expiry_warning_days)
    for record in svc.all_keys():
        if rotation_due(record, now):
            if _rotate(svc, record, now, secret):
                report.rotated.append(record.id)
                continue  # a fresh lifetime: no warning is due
            report.failed.append(record.id)
        warn = due_warning(record, now, days)
        if warn is not None:
            _warn(svc, record, warn, now)
            report.warned.append((record.id, warn))
    return report
