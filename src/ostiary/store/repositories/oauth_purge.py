"""Deleting what the authorization server no longer needs: expired authorization codes,
expired refresh tokens and revocation-set rows of tokens that have expired anyway.

A row is kept while the access token recorded on it is unexpired, so deprovisioning
(``user_tokens.revoke_user_tokens``) can still find that token and revoke it. Codes are
kept a day past their expiry so a late replay is still recognised as a replay and
revokes what the code issued (RFC 6749 section 4.1.2)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, or_

from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.tables_oidc_code import oidc_auth_codes as ac
from ostiary.store.tables_oidc_code import oidc_refresh_tokens as rt

CODE_RETENTION = timedelta(days=1)


@dataclass(frozen=True)
class Purged:
    codes: int
    refresh_tokens: int
    revocations: int

    def as_dict(self) -> dict[str, int]:
        return {
            "codes": self.codes,
            "refresh_tokens": self.refresh_tokens,
            "revocations": self.revocations,
        }


def purge_expired(conn: Connection, now: datetime) -> Purged:
    """One pass, in the caller's transaction."""
    codes = conn.execute(
        delete(ac).where(
            ac.c.expires_at <= now - CODE_RETENTION,
            or_(ac.c.access_exp.is_(None), ac.c.access_exp <= now),
        )
    ).rowcount
    refresh = conn.execute(
        delete(rt).where(
            rt.c.expires_at <= now, or_(rt.c.access_exp.is_(None), rt.c.access_exp <= now)
        )
    ).rowcount
    revoked = RevocationRepository(conn).purge_expired(now)
    return Purged(int(codes), int(refresh), revoked)
