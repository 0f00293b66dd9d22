"""The one place a user stops being able to act: deactivation (``active`` false) or deletion.

It runs inside the transaction that deactivates the user (issue 7 point 1), so everything
it writes commits or rolls back with the change:

- every sign-in session of the user ends (a later reactivation does not revive them);
- every refresh grant ends and every unexpired access token issued to the user joins the
  revocation set (UserInfo, introspection and SCIM refuse it on every node);
- every client those sessions issued tokens to gets an OIDC Back-Channel Logout token;
- SSF receivers get CAEP ``session-revoked`` and RISC ``account-disabled`` (or
  ``account-purged`` on deletion), as SETs queued through the outbox;
- signed webhooks subscribed to ``user.deprovisioned`` are queued;
- the provisioning keys the user owns are revoked and the OIDC clients they own are
  disabled, with those clients' tokens (``owned.py``);
- the audit event records how many sessions ended, how many logout tokens were queued
  and what else was revoked.

Each step is one set-based statement (not one per session or token), every outbox row
goes in with one INSERT, and the audit events are appended last, in one batch.

The outbox worker delivers after the commit (``run_write`` wakes it).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.core.ids import new_id
from ostiary.signals.ssf import events as ssf_events
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.outbox import OutboxBatch
from ostiary.store.repositories.sessions import SessionRepository
from ostiary.store.repositories.user_tokens import revoke_user_tokens
from ostiary.store.repositories.webhooks import WebhookRepository
from ostiary.web.oauth import backchannel
from ostiary.web.scim.owned import end_owned

if TYPE_CHECKING:
    from ostiary.web.context import AppContext

WEBHOOK_ACTION = "user.deprovisioned"


def on_user_deactivated(
    conn: Connection,
    user_id: str,
    *,
    actor: Actor,
    request: RequestInfo,
    now: datetime,
    reason: str,  # "deactivated" (active set false) or "deleted"
    ctx: AppContext | None = None,
    first: Sequence[AuditEvent] = (),
    last: Sequence[AuditEvent] = (),
) -> None:
    """``first``/``last``: the caller's own audit events for this write, appended with
    ours in one batch at the very end. The audit head row is the lock every audited
    writer on every node queues on, so it is taken after the work (and the SET
    signatures), just before the commit; one batch is three statements for any number
    of events."""
    sids = SessionRepository(conn).end_all(user_id, now)
    tokens = revoke_user_tokens(conn, user_id, now)
    owned, owned_events = end_owned(conn, ctx, user_id, actor, request, now)
    queued = logouts = 0
    if ctx is not None:
        batch = OutboxBatch(now)  # every SET, webhook and logout token: one INSERT
        queued = _fan_out(conn, ctx, user_id, reason, len(sids), now, batch)
        # Back-Channel Logout 1.0: every client each ended session issued tokens to.
        issuer = str(ctx.settings.issuer)
        logouts = backchannel.queue_for_sessions(conn, issuer, sids, now, batch)
        batch.flush(conn)
    event = AuditEvent(
        action="scim.user.deactivate",
        actor=actor,
        target_type="User",
        target_id=user_id,
        request=request,
        detail={
            "reason": reason,
            "sessions_ended": len(sids),
            "access_tokens_revoked": tokens,
            "signals_queued": queued,
            "backchannel_logouts_queued": logouts,
            **owned,
        },
    )
    events = [*first, *owned_events, event, *last]
    AuditLog(conn).append_many([(e, now) for e in events])


def _fan_out(
    conn: Connection,
    ctx: AppContext,
    user_id: str,
    reason: str,
    sessions: int,
    now: datetime,
    batch: OutboxBatch,
) -> int:
    """Queue every notification into ``batch``; returns how many."""
    subject = ssf_events.user_subject(ctx.settings.issuer, user_id)
    txn = new_id()  # ties the SETs of this one deprovisioning together
    account_event = (
        ssf_events.ACCOUNT_PURGED if reason == "deleted" else ssf_events.ACCOUNT_DISABLED
    )
    # A user subject (no session member) revokes all of the user's sessions (CAEP 1.0 3.1).
    sets = ctx.ssf().emit_many(
        conn,
        [(ssf_events.SESSION_REVOKED, {"initiating_entity": "policy"}), (account_event, None)],
        subject,
        now,
        txn,
        batch,
    )
    hooks = WebhookRepository(conn, ctx.vault).publish(
        WEBHOOK_ACTION,
        {"user_id": user_id, "reason": reason, "sessions_ended": sessions},
        now,
        batch,
    )
    return len(sets) + len(hooks)
