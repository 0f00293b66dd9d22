"""What a deprovisioned user owns ends with them (issue 7 point 1): their provisioning
keys are revoked for good (what ``ostiary keys revoke`` does) and their OIDC clients are
disabled, every token issued to those clients joining the revocation set. It runs in the
deprovisioning transaction; each key and client gets its own audit event, and the
counts go into ``scim.user.deactivate``.

A disabled client is marked in its ``options`` (``disabled``: when, why, whose): the
token endpoint and the authorization endpoint refuse it (``rp_auth``, ``authorize``).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING

from sqlalchemy import Connection

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.keys.models import KeyStatus
from ostiary.store.db import after_commit
from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.repositories.owners import OwnerRepository
from ostiary.store.repositories.user_tokens import revoke_client_tokens
from ostiary.store.tables_owners import CLIENT, KEY

if TYPE_CHECKING:
    from ostiary.web.context import AppContext

REASON = "owner deprovisioned"


def end_owned(
    conn: Connection,
    ctx: AppContext | None,
    user_id: str,
    actor: Actor,
    request: RequestInfo,
    now: datetime,
) -> tuple[dict[str, int], list[AuditEvent]]:
    """Revoke the user's keys and disable their clients; returns the counts and the audit
    events, which the caller appends with its own (one batch, at the end: the audit head
    is the lock every writer queues on)."""
    events: list[AuditEvent] = []

    def log(action: str, target_type: str, target_id: str, **detail: object) -> None:
        events.append(
            AuditEvent(
                action=action,
                actor=actor,
                target_type=target_type,
                target_id=target_id,
                request=request,
                detail={"reason": REASON, "owner_user_id": user_id, **detail},
            )
        )

    owned = OwnerRepository(conn).all_owned_by(user_id)
    keys = KeyRepository(conn)
    revoked = 0
    for key_id in owned.get(KEY, []):
        record = keys.get(key_id)
        if record is None or record.status is KeyStatus.REVOKED:
            continue
        keys.set_status(key_id, KeyStatus.REVOKED, now)
        log("key.revoke", "ProvisioningKey", key_id, previous_status=record.status.value)
        revoked += 1
        if ctx is not None:
            # Every node drops its cached record once the revocation is committed.
            after_commit(conn, partial(ctx.key_runtime.invalidate, key_id))
    disabled = tokens = 0
    if ctx is not None:  # client records are sealed: reading them needs the vault
        clients = ClientRepository(conn, ctx.vault)
        for client_id in owned.get(CLIENT, []):
            client = clients.get(client_id)
            if client is None or client.options.get("disabled"):
                continue
            mark = {"at": now.isoformat(), "reason": REASON, "owner_user_id": user_id}
            clients.update(replace(client, options={**client.options, "disabled": mark}), now)
            count = revoke_client_tokens(conn, client_id, now)
            log("client.disable", "OidcClient", client_id, access_tokens_revoked=count)
            disabled += 1
            tokens += count
    counts = {
        "keys_revoked": revoked,
        "clients_disabled": disabled,
        "client_tokens_revoked": tokens,
    }
    return counts, events
