"""Signing keys held in memory, so issuing a token reads no database.

Every ``refresh_seconds`` one caller reloads the keys (and first applies any rotation that
is due, so an automatic schedule needs no separate process). Other nodes pick up a
rotation within the same interval; the rotation rules leave room for that staleness.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import orjson
from joserfc import jwk

from ostiary.core.clock import Clock
from ostiary.core.crypto.vault import Vault
from ostiary.core.settings import Settings
from ostiary.oidc.clients import MAX_TOKEN_LIFETIME
from ostiary.oidc.signing import KeyState, RotationPolicy, SigningKey, jwks
from ostiary.store.db import Database
from ostiary.store.repositories.signing_keys import SigningKeyRepository, maintain


def policy_from(settings: Settings, refresh_seconds: float) -> RotationPolicy:
    return RotationPolicy(
        jwks_max_age=timedelta(seconds=settings.jwks_max_age_seconds),
        rotate_every=timedelta(days=settings.signing_key_rotate_days),
        # Per-client access and ID token lifetimes may reach MAX_TOKEN_LIFETIME: a retired
        # key stays published until the longest of them has expired.
        max_token_lifetime=timedelta(
            seconds=max(settings.access_token_lifetime_seconds, MAX_TOKEN_LIFETIME)
        ),
        cache_staleness=timedelta(seconds=refresh_seconds),
    )


@dataclass(frozen=True)
class Snapshot:
    signers: dict[str, tuple[str, jwk.Key]]
    verifiers: dict[str, jwk.Key]
    jwks_body: bytes


class KeyRing:
    def __init__(
        self,
        db: Database,
        vault: Vault,
        clock: Clock,
        policy: RotationPolicy,
        refresh_seconds: float = 60.0,
    ) -> None:
        self._db = db
        self._vault = vault
        self._clock = clock
        self.policy = policy
        self._refresh = refresh_seconds
        self._lock = threading.Lock()
        self._snap: Snapshot | None = None
        self._loaded_at = 0.0

    def _current(self) -> Snapshot:
        snap = self._snap
        if snap is not None and self._clock.monotonic() - self._loaded_at < self._refresh:
            return snap
        with self._lock:
            if self._snap is None or self._clock.monotonic() - self._loaded_at >= self._refresh:
                self.reload()
            assert self._snap is not None
            return self._snap

    def fresh(self) -> bool:
        """True when the next signer() call needs no database (no reload due)."""
        return self._snap is not None and self._clock.monotonic() - self._loaded_at < self._refresh

    def reload(self) -> None:
        """Apply due rotations, then load every published key (private halves of active
        keys only)."""
        now = self._clock.now()
        with self._db.begin() as conn:
            maintain(conn, self._vault, now, self.policy)
            keys = SigningKeyRepository(conn, self._vault).all(private=True)
        self._snap = _snapshot(keys, now)
        self._loaded_at = self._clock.monotonic()

    def signer(self, alg: str) -> tuple[str, jwk.Key]:
        return self._current().signers[alg]

    def verifier(self, kid: str) -> jwk.Key | None:
        return self._current().verifiers.get(kid)

    def jwks_body(self) -> bytes:
        return self._current().jwks_body


def _snapshot(keys: list[SigningKey], now: Any) -> Snapshot:
    signers: dict[str, tuple[str, jwk.Key]] = {}
    for key in keys:
        if key.state is KeyState.ACTIVE:
            signers[key.alg] = (key.kid, key.private_key())
    published = [k for k in keys if k.published(now)]
    verifiers = {k.kid: jwk.import_key(k.public_jwk) for k in published}
    return Snapshot(signers, verifiers, orjson.dumps(jwks(published, now)))
