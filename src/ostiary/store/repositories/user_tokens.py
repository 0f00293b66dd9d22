"""Everything a user's sign-ins minted, revoked at once (issue 7 point 1); the same for
everything issued to one relying party (a client disabled with its owner)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, Table, select, update

from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.tables_oidc_code import oidc_auth_codes as ac
from ostiary.store.tables_oidc_code import oidc_refresh_tokens as rt


def revoke_user_tokens(conn: Connection, user_id: str, now: datetime) -> int:
    """End every refresh grant of ``user_id`` and put every unexpired access token issued
    to them (from a code or a refresh) on the revocation set that every node consults.
    Returns how many access tokens were revoked. Runs in the caller's transaction."""
    return _revoke(conn, "user_id", user_id, now)


def revoke_client_tokens(conn: Connection, client_id: str, now: datetime) -> int:
    """The same for every grant and access token of the relying party ``client_id``."""
    return _revoke(conn, "client_id", client_id, now)


def _revoke(conn: Connection, column: str, value: str, now: datetime) -> int:
    def issued(table: Table) -> list[tuple[str, datetime, str]]:
        c = table.c
        query = select(c.access_jti, c.access_exp, c.client_id).where(
            c[column] == value, c.access_jti.is_not(None), c.access_exp > now
        )
        return [(jti, exp, client) for jti, exp, client in conn.execute(query)]

    tokens = [*issued(rt), *issued(ac)]
    conn.execute(
        update(rt).where(rt.c[column] == value, rt.c.revoked_at.is_(None)).values(revoked_at=now)
    )
    revocations = RevocationRepository(conn)
    return sum(1 for jti, exp, client in tokens if revocations.revoke(jti, client, exp, now))
