"""The one place a user stops being able to act: deactivation (``active`` false) or deletion.

Issue 7 (instant deprovisioning) extends :func:`on_user_deactivated`: revoke sessions and
tokens, send back-channel logouts and SSF/CAEP events. It runs inside the transaction that
deactivates the user, so whatever it writes commits or rolls back with the change.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.store.repositories.audit import AuditLog


def on_user_deactivated(
    conn: Connection,
    user_id: str,
    *,
    actor: Actor,
    request: RequestInfo,
    now: datetime,
    reason: str,  # "deactivated" (active set false) or "deleted"
) -> None:
    AuditLog(conn).append(
        AuditEvent(
            action="scim.user.deactivate",
            actor=actor,
            target_type="User",
            target_id=user_id,
            request=request,
            detail={"reason": reason},
        ),
        now,
    )
