"""Which users may use a client (its ``allowed_groups`` option; empty: everyone), and
ending a user's access to one client when a group change takes it away (issue 7 point 1).

``/authorize`` refuses a user outside the allowed groups (``access_denied``), the token
endpoint refuses to redeem or refresh for them, and a SCIM group write that removes a
user's last path (direct or nested membership, or the displayName the client names) to a
client ends that client's access in the write's own transaction: the user's refresh
grants and access tokens for it are revoked, the client gets a back-channel logout token
for each of the user's sessions with it, and the change is audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.oidc.errors import InvalidGrant
from ostiary.oidc.logout import may_use
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.session_clients import (
    SessionClientRepository,
    effective_groups,
    lock_members,
    restricted_clients,
)
from ostiary.store.repositories.user_tokens import revoke_user_tokens
from ostiary.web.oauth import backchannel


def allowed(conn: Connection, options: dict[str, Any], user_id: str) -> bool:
    """Whether ``user_id`` may use a client with these ``options`` (reads only if the
    client is restricted)."""
    if not options.get("allowed_groups"):
        return True
    return may_use(options, effective_groups(conn, user_id))


Groups = dict[str, set[tuple[str, str]]]


def _groups(conn: Connection, users: set[str]) -> Groups:
    return {user: effective_groups(conn, user) for user in sorted(users)}


def _with_access(
    restricted: dict[str, list[str]], pairs: set[tuple[str, str]], groups: Groups
) -> set[tuple[str, str]]:
    """The (user, client) pairs whose user is in one of the client's groups."""
    return {
        (user, client)
        for user, client in pairs
        if may_use({"allowed_groups": restricted[client]}, groups[user])
    }


@contextmanager
def group_write(
    conn: Connection, issuer: str, actor: Actor, request: RequestInfo, now: datetime
) -> Iterator[None]:
    """Wrap a group write: who may use which restricted client is noted before it, and
    everyone who lost a client by it loses that client's tokens and sessions after it.
    Only users holding something live for a restricted client are looked at, so with no
    restricted clients this costs one small query.

    Two concurrent writes to two groups, each removing one of a user's two paths to a
    client, would each still see the other path (not yet committed) and neither would
    revoke. So the users whose groups this write changed are locked (``lock_members``)
    and their groups read again: the second writer waits for the first to commit and
    then sees both removals."""
    restricted = restricted_clients(conn)
    holders = SessionClientRepository(conn).holders(sorted(restricted), now)
    groups = _groups(conn, {u for u, _ in holders}) if holders else {}
    before = _with_access(restricted, holders, groups)
    yield
    if not before:
        return
    after_groups = _groups(conn, {u for u, _ in before})
    changed = [u for u, found in after_groups.items() if found != groups[u]]
    if lock_members(conn, changed):
        after_groups |= _groups(conn, set(changed))  # read after the lock: committed state
    after = _with_access(restricted, before, after_groups)
    for user_id, client_id in sorted(before - after):
        end_client_access(conn, issuer, user_id, client_id, now, actor, request)


def end_client_access(
    conn: Connection,
    issuer: str,
    user_id: str,
    client_id: str,
    now: datetime,
    actor: Actor,
    request: RequestInfo,
    reason: str = "group_change",
) -> None:
    revoked = revoke_user_tokens(conn, user_id, now, client_id=client_id)
    repo = SessionClientRepository(conn)
    queued = backchannel.queue(conn, issuer, repo.live_of(user_id, client_id), now)
    repo.forget(user_id, client_id)  # its sessions with the client are over
    event = AuditEvent(
        action="oauth.client.access.revoke",
        actor=actor,
        target_type="User",
        target_id=user_id,
        request=request,
        detail={
            "client_id": client_id,
            "reason": reason,
            "access_tokens_revoked": revoked,
            "backchannel_logouts_queued": queued,
        },
    )
    AuditLog(conn).append(event, now)


def refused(
    conn: Connection, issuer: str, user_id: str, client_id: str, now: datetime, request: RequestInfo
) -> InvalidGrant:
    """The token endpoint found a user outside the client's groups (an administrator
    restricted the client, or two concurrent writes to different groups each saw the other
    path still there): end what the user holds for the client, as a group write would. The
    caller returns the error after its commit, so the revocation stands."""
    actor = Actor(kind="client", id=client_id, auth="token_endpoint")
    end_client_access(conn, issuer, user_id, client_id, now, actor, request, "token_request")
    return InvalidGrant("the user may no longer use this client")
