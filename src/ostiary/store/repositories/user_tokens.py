"""Everything a user's sign-ins minted, revoked at once (issue 7 point 1); the same for
everything issued to one relying party (a client disabled with its owner)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, Table, select, union_all, update

from ostiary.store.repositories.refresh_tokens import RefreshTokenRepository
from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.tables_oidc_code import oidc_auth_codes as ac
from ostiary.store.tables_oidc_code import oidc_refresh_tokens as rt


def revoke_user_tokens(
    conn: Connection, user_id: str, now: datetime, client_id: str | None = None
) -> int:
    """End every refresh grant of ``user_id`` and put every unexpired access token issued
    to them (from a code or a refresh) on the revocation set that every node consults;
    only those issued to ``client_id`` when given (the user lost access to that client).
    Returns how many access tokens were revoked. Runs in the caller's transaction."""
    match = {"user_id": user_id} | ({"client_id": client_id} if client_id else {})
    return _revoke(conn, match, now)


def revoke_client_tokens(conn: Connection, client_id: str, now: datetime) -> int:
    """The same for every grant and access token of the relying party ``client_id`` (a
    client disabled with its owner, web/scim/owned.py)."""
    return _revoke(conn, {"client_id": client_id}, now)


def _revoke(conn: Connection, match: dict[str, str], now: datetime) -> int:
    def where(table: Table) -> list[Any]:
        return [table.c[name] == value for name, value in match.items()]

    def issued(table: Table) -> Select[Any]:
        c = table.c
        return select(c.access_jti, c.client_id, c.access_exp).where(
            *where(table), c.access_jti.is_not(None), c.access_exp > now
        )

    # Set-based: the access tokens of both tables join the revocation set in one INSERT
    # ... SELECT (read before the refresh rows change, though the read ignores revoked_at).
    revoked = RevocationRepository(conn).revoke_selected(union_all(issued(rt), issued(ac)), now)
    conn.execute(update(rt).where(*where(rt), rt.c.revoked_at.is_(None)).values(revoked_at=now))
    return revoked


def revoke_online_grants(conn: Connection, sids: list[str], now: datetime) -> int:
    """Back-Channel Logout 1.0 section 2.7: refresh tokens issued to a session without
    ``offline_access`` end with it (offline ones outlive it by design), together with the
    access tokens issued alongside them. Returns how many grants were revoked."""
    if not sids:
        return 0
    rows = conn.execute(
        select(rt.c.grant_id, rt.c.scope).where(rt.c.sid.in_(sids), rt.c.revoked_at.is_(None))
    ).all()
    online = sorted({r.grant_id for r in rows if "offline_access" not in r.scope.split()})
    repo, revocations = RefreshTokenRepository(conn), RevocationRepository(conn)
    for grant_id in online:
        client_id = conn.execute(
            select(rt.c.client_id).where(rt.c.grant_id == grant_id).limit(1)
        ).scalar_one()
        for jti, exp in repo.revoke_grant(grant_id, now):
            if exp > now:
                revocations.revoke(jti, client_id, exp, now)
    return len(online)
