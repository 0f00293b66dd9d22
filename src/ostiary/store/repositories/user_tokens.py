"""Everything a user's sign-ins minted, revoked at once (issue 7 point 1)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

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
    rt_where = [rt.c.user_id == user_id]
    ac_where = [ac.c.user_id == user_id]
    if client_id is not None:
        rt_where.append(rt.c.client_id == client_id)
        ac_where.append(ac.c.client_id == client_id)
    issued = [
        *conn.execute(
            select(rt.c.access_jti, rt.c.access_exp, rt.c.client_id).where(
                *rt_where, rt.c.access_jti.is_not(None), rt.c.access_exp > now
            )
        ),
        *conn.execute(
            select(ac.c.access_jti, ac.c.access_exp, ac.c.client_id).where(
                *ac_where, ac.c.access_jti.is_not(None), ac.c.access_exp > now
            )
        ),
    ]
    conn.execute(update(rt).where(*rt_where, rt.c.revoked_at.is_(None)).values(revoked_at=now))
    revocations = RevocationRepository(conn)
    return sum(1 for jti, exp, client_id in issued if revocations.revoke(jti, client_id, exp, now))


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
