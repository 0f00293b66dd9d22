"""Signing-key persistence. The private half is sealed with context ``signing_key:<kid>``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, delete, insert, select, update

from ostiary.audit.events import SYSTEM, Actor, AuditEvent
from ostiary.core.clock import as_utc
from ostiary.core.crypto.vault import Vault
from ostiary.oidc.signing import KeyState, Plan, RotationPolicy, SigningKey, plan
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.tables_oidc import oidc_signing_keys as sk


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else as_utc(value)


def _context(kid: str) -> str:
    return f"signing_key:{kid}"


class SigningKeyRepository:
    def __init__(self, conn: Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault

    def _key(self, r: Row[Any], *, private: bool) -> SigningKey:
        pem = self._vault.open(r.sealed_private, _context(r.kid)) if private else None
        return SigningKey(
            kid=r.kid,
            alg=r.alg,
            state=KeyState(r.state),
            public_jwk=dict(r.public_jwk),
            created_at=as_utc(r.created_at),
            activated_at=_utc(r.activated_at),
            retired_at=_utc(r.retired_at),
            unpublish_at=_utc(r.unpublish_at),
            private_pem=pem,
        )

    def all(self, *, private: bool = False) -> list[SigningKey]:
        rows = self._conn.execute(select(sk).order_by(sk.c.created_at, sk.c.kid))
        return [self._key(r, private=private and r.state == KeyState.ACTIVE) for r in rows]

    def add(self, key: SigningKey) -> None:
        if key.private_pem is None:
            raise ValueError("a new signing key needs its private half")
        self._conn.execute(
            insert(sk).values(
                kid=key.kid,
                alg=key.alg,
                state=key.state.value,
                public_jwk=key.public_jwk,
                sealed_private=self._vault.seal(key.private_pem, _context(key.kid)),
                created_at=key.created_at,
                activated_at=key.activated_at,
                retired_at=key.retired_at,
                unpublish_at=key.unpublish_at,
            )
        )

    def save_state(self, key: SigningKey) -> None:
        self._conn.execute(
            update(sk)
            .where(sk.c.kid == key.kid)
            .values(
                state=key.state.value,
                activated_at=key.activated_at,
                retired_at=key.retired_at,
                unpublish_at=key.unpublish_at,
            )
        )

    def remove(self, kid: str) -> None:
        self._conn.execute(delete(sk).where(sk.c.kid == kid))

    def apply(self, changes: Plan, now: datetime, actor: Actor = SYSTEM) -> None:
        """Write a rotation plan and audit every transition, in the caller's transaction."""
        log = AuditLog(self._conn)
        for key in changes.created:
            self.add(key)
            log.append(_event("signing_key.create", key, actor), now)
        for key in changes.changed:
            self.save_state(key)
            log.append(_event(f"signing_key.{key.state.value}", key, actor), now)
        for key in changes.removed:
            self.remove(key.kid)
            log.append(_event("signing_key.unpublish", key, actor), now)


def _event(action: str, key: SigningKey, actor: Actor) -> AuditEvent:
    detail: dict[str, Any] = {"alg": key.alg, "state": key.state.value}
    if key.unpublish_at is not None:
        detail["unpublish_at"] = key.unpublish_at.isoformat()
    return AuditEvent(
        action=action, actor=actor, target_type="signing_key", target_id=key.kid, detail=detail
    )


def maintain(
    conn: Connection,
    vault: Vault,
    now: datetime,
    policy: RotationPolicy,
    *,
    rotate: bool = False,
    actor: Actor = SYSTEM,
) -> Plan:
    """Apply whatever the rotation rules say is due (idempotent; safe on every node)."""
    if conn.dialect.name == "postgresql":
        # Two nodes maintaining at once must not both create or promote keys.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(60070001)")
    repo = SigningKeyRepository(conn, vault)
    changes = plan(repo.all(), now, policy, rotate=rotate)
    repo.apply(changes, now, actor)
    return changes
