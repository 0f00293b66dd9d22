"""Held operations and their second-administrator decision.

The area that holds an operation registers how to apply it once approved:
``register("scim.deprovision", apply)`` where ``apply(ctx, payload)`` performs it (its own
transaction and audit). Approving records the decision and its audit event in one
transaction, then applies; a denial only records. The requester cannot decide.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ostiary.audit.events import Actor, AuditEvent
from ostiary.core.errors import Conflict, NotFound
from ostiary.store.db import Database
from ostiary.store.repositories.admin_tokens import ApprovalRepository
from ostiary.store.repositories.audit import AuditLog
from ostiary.web.logs import get_logger

log = get_logger("ostiary.keys.approvals")
Applier = Callable[[Any, dict[str, Any]], None]
_appliers: dict[str, Applier] = {}


def register(kind: str, apply: Applier) -> None:
    _appliers[kind] = apply


def list_approvals(db: Database, status: str | None = "pending") -> list[dict[str, Any]]:
    with db.read() as conn:
        return ApprovalRepository(conn).list(status)


def decide(ctx: Any, approval_id: str, approve: bool, actor: Actor) -> dict[str, Any]:
    who = f"{actor.kind}:{actor.id}"
    status = "approved" if approve else "denied"
    with ctx.db.begin() as conn:
        repo = ApprovalRepository(conn)
        row = repo.get(approval_id)
        if row is None:
            raise NotFound(f"no approval {approval_id}")
        if row["requested_by"] == who:
            raise Conflict("the requester cannot decide its own approval")
        if not repo.decide(approval_id, status, who, ctx.clock.now()):
            raise Conflict(f"approval {approval_id} was already {row['status']}")
        AuditLog(conn).append(
            AuditEvent(
                action=f"approval.{status}",
                actor=actor,
                target_type="Approval",
                target_id=approval_id,
                detail={"kind": row["kind"]},
            ),
            ctx.clock.now(),
        )
    applied = False
    if approve:
        apply = _appliers.get(row["kind"])
        if apply is not None:
            apply(ctx, row["payload"])
            applied = True
        else:
            log.warning("approval.no_applier", kind=row["kind"])
    return {"id": approval_id, "status": status, "applied": applied}
