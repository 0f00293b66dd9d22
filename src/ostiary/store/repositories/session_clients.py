"""The relying parties each sign-in session has issued tokens to: who back-channel logout
tells (OIDC Back-Channel Logout 1.0 section 2.6) when a session ends."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select, text
from sqlalchemy.dialects import postgresql, sqlite

from ostiary.store.tables import group_members, groups
from ostiary.store.tables_oidc import oidc_clients as oc
from ostiary.store.tables_oidc import oidc_sessions as ss
from ostiary.store.tables_oidc_code import oidc_auth_codes as ac
from ostiary.store.tables_oidc_code import oidc_refresh_tokens as rt
from ostiary.store.tables_oidc_logout import oidc_session_clients as sc

_CHUNK = 500  # under SQLite's bound-parameter limit


@dataclass(frozen=True)
class ClientSession:
    sid: str
    client_id: str
    user_id: str


class SessionClientRepository:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def record(self, sid: str, client_id: str, user_id: str, now: datetime) -> None:
        """Remember that ``sid`` issued tokens to ``client_id`` (idempotent: concurrent
        redemptions of two codes of one session both succeed)."""
        values = {"sid": sid, "client_id": client_id, "user_id": user_id, "first_at": now}
        if self._conn.dialect.name == "postgresql":
            self._conn.execute(postgresql.insert(sc).values(**values).on_conflict_do_nothing())
        else:
            self._conn.execute(sqlite.insert(sc).values(**values).on_conflict_do_nothing())

    def of_sessions(self, sids: Iterable[str]) -> list[ClientSession]:
        ids = sorted(set(sids))
        out: list[ClientSession] = []
        for i in range(0, len(ids), _CHUNK):
            q = select(sc.c.sid, sc.c.client_id, sc.c.user_id).where(
                sc.c.sid.in_(ids[i : i + _CHUNK])
            )
            out += [ClientSession(r.sid, r.client_id, r.user_id) for r in self._conn.execute(q)]
        return sorted(out, key=lambda c: (c.sid, c.client_id))

    def of_sessions_with_options(
        self, sids: Iterable[str]
    ) -> list[tuple[ClientSession, dict[str, object]]]:
        """``of_sessions`` with each client's ``options`` (one joined read per chunk);
        sessions of a client that no longer exists are left out."""
        ids = sorted(set(sids))
        out: list[tuple[ClientSession, dict[str, object]]] = []
        for i in range(0, len(ids), _CHUNK):
            q = (
                select(sc.c.sid, sc.c.client_id, sc.c.user_id, oc.c.options)
                .join(oc, oc.c.id == sc.c.client_id)
                .where(sc.c.sid.in_(ids[i : i + _CHUNK]))
            )
            out += [
                (ClientSession(r.sid, r.client_id, r.user_id), dict(r.options or {}))
                for r in self._conn.execute(q)
            ]
        return sorted(out, key=lambda pair: (pair[0].sid, pair[0].client_id))

    def live_of(self, user_id: str, client_id: str) -> list[ClientSession]:
        """The user's live (not ended) sessions that issued tokens to ``client_id``."""
        q = (
            select(sc.c.sid)
            .join(ss, ss.c.sid == sc.c.sid)
            .where(sc.c.user_id == user_id, sc.c.client_id == client_id, ss.c.ended_at.is_(None))
            .order_by(sc.c.sid)
        )
        return [ClientSession(r.sid, client_id, user_id) for r in self._conn.execute(q)]

    def forget(self, user_id: str, client_id: str) -> None:
        self._conn.execute(delete(sc).where(sc.c.user_id == user_id, sc.c.client_id == client_id))

    def holders(self, client_ids: list[str], now: datetime) -> set[tuple[str, str]]:
        """(user, client) pairs among ``client_ids`` with anything live: a session that
        issued tokens, an unrevoked refresh grant, or an unexpired access token."""
        if not client_ids:
            return set()
        live_sessions = (
            select(sc.c.user_id, sc.c.client_id)
            .join(ss, ss.c.sid == sc.c.sid)
            .where(sc.c.client_id.in_(client_ids), ss.c.ended_at.is_(None))
        )
        grants = select(rt.c.user_id, rt.c.client_id).where(
            rt.c.client_id.in_(client_ids), rt.c.revoked_at.is_(None), rt.c.expires_at > now
        )
        codes = select(ac.c.user_id, ac.c.client_id).where(
            ac.c.client_id.in_(client_ids), ac.c.access_exp > now
        )
        pairs: set[tuple[str, str]] = set()
        for q in (live_sessions, grants, codes):
            pairs.update((r[0], r[1]) for r in self._conn.execute(q))
        return pairs


def client_options(conn: Connection, client_ids: Iterable[str]) -> dict[str, dict[str, object]]:
    """``options`` of the named clients, without opening their secrets (missing: absent)."""
    ids = sorted(set(client_ids))
    out: dict[str, dict[str, object]] = {}
    for i in range(0, len(ids), _CHUNK):
        q = select(oc.c.id, oc.c.options).where(oc.c.id.in_(ids[i : i + _CHUNK]))
        out.update({r.id: dict(r.options or {}) for r in conn.execute(q)})
    return out


def restricted_clients(conn: Connection) -> dict[str, list[str]]:
    """Clients that admit only members of some groups: id -> allowed_groups."""
    out: dict[str, list[str]] = {}
    for r in conn.execute(select(oc.c.id, oc.c.options)):
        allowed = (r.options or {}).get("allowed_groups")
        if allowed:
            out[r.id] = list(allowed)
    return out


def lock_members(conn: Connection, member_ids: list[str]) -> bool:
    """Serialise re-evaluating these users' client access with other transactions doing
    the same (PostgreSQL: one transaction-scoped advisory lock per user, taken in id
    order so two writers cannot deadlock; a statement after this sees every transaction
    that held one committed). Returns False on SQLite, whose BEGIN IMMEDIATE already
    serialises writers. Advisory locks rather than ``users`` row locks: a user delete
    locks the user row and then its groups' rows, a group write the other way round."""
    if conn.dialect.name != "postgresql" or not member_ids:
        return False
    conn.execute(_LOCK_MEMBERS, {"ids": sorted(set(member_ids))})
    return True


# Volatile target-list functions run after ORDER BY (PostgreSQL >= 9.6): locks in order.
_LOCK_MEMBERS = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('ostiary.client_access:' || m.id, 0)) "
    "FROM unnest(CAST(:ids AS text[])) WITH ORDINALITY AS m(id, n) ORDER BY m.n"
)


def effective_groups(conn: Connection, member_id: str) -> set[tuple[str, str]]:
    """(id, displayName) of every group ``member_id`` belongs to, directly or through
    nested groups (each level is one query; a cycle stops at groups already seen)."""
    found: dict[str, str] = {}
    frontier = {member_id}
    while frontier:
        q = (
            select(groups.c.id, groups.c.display_name)
            .join(group_members, group_members.c.group_id == groups.c.id)
            .where(group_members.c.member_id.in_(sorted(frontier)))
        )
        fresh = {r.id: r.display_name for r in conn.execute(q) if r.id not in found}
        found.update(fresh)
        frontier = set(fresh)
    return set(found.items())
