"""Signing keys and their rotation (issue 6 point 1).

A key moves ``next -> active -> retired``:

- ``next`` keys are published in the JWKS but sign nothing, so relying parties that cache
  the JWKS for ``jwks_max_age`` already hold the key when it starts signing;
- a ``next`` key becomes ``active`` only once it has been published for at least one JWKS
  cache lifetime;
- a ``retired`` key signs nothing but stays published until every token it signed has
  expired (longest token lifetime plus the time nodes may keep a stale key cache).

One active key per algorithm: RS256 signs ID tokens by default (mandatory to implement),
ES256 signs access tokens (RFC 9068) and, like EdDSA (Ed25519), the ID tokens of clients
that registered that ``id_token_signed_response_alg``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from joserfc import jwk

from ostiary.oidc.errors import SigningKeyError

ALGORITHMS = ("RS256", "ES256", "EdDSA")


class KeyState(StrEnum):
    NEXT = "next"
    ACTIVE = "active"
    RETIRED = "retired"


@dataclass(frozen=True)
class RotationPolicy:
    jwks_max_age: timedelta = timedelta(minutes=10)
    rotate_every: timedelta = timedelta(days=30)
    max_token_lifetime: timedelta = timedelta(minutes=15)
    cache_staleness: timedelta = timedelta(minutes=1)

    @property
    def retire_grace(self) -> timedelta:
        return self.max_token_lifetime + self.cache_staleness + timedelta(minutes=1)


@dataclass(frozen=True)
class SigningKey:
    kid: str
    alg: str
    state: KeyState
    public_jwk: dict[str, Any]
    created_at: datetime
    activated_at: datetime | None = None
    retired_at: datetime | None = None
    unpublish_at: datetime | None = None
    private_pem: bytes | None = field(default=None, repr=False)

    def published(self, now: datetime) -> bool:
        return self.unpublish_at is None or now < self.unpublish_at

    def ready(self, now: datetime, policy: RotationPolicy) -> bool:
        """A next key may sign once every JWKS cache has had time to see it."""
        return self.created_at + policy.jwks_max_age + policy.cache_staleness <= now

    def private_key(self) -> jwk.Key:
        if self.private_pem is None:
            raise SigningKeyError(f"private half of {self.kid} not loaded")
        params: jwk.KeyParameters = {"kid": self.kid, "alg": self.alg}
        if self.alg.startswith(("RS", "PS")):
            return jwk.RSAKey.import_key(self.private_pem, params)
        if self.alg == "EdDSA":
            return jwk.OKPKey.import_key(self.private_pem, params)
        return jwk.ECKey.import_key(self.private_pem, params)


def generate(alg: str, now: datetime) -> SigningKey:
    key: jwk.RSAKey | jwk.ECKey | jwk.OKPKey
    if alg == "RS256":
        key = jwk.RSAKey.generate_key(2048, auto_kid=True)
    elif alg == "ES256":
        key = jwk.ECKey.generate_key("P-256", auto_kid=True)
    elif alg == "EdDSA":
        key = jwk.OKPKey.generate_key("Ed25519", auto_kid=True)
    else:
        raise SigningKeyError(f"unsupported signing algorithm {alg!r}")
    public = key.as_dict(private=False) | {"use": "sig", "alg": alg}
    pem = key.as_pem(private=True)
    return SigningKey(
        kid=str(key.kid),
        alg=alg,
        state=KeyState.NEXT,
        public_jwk=public,
        created_at=now,
        private_pem=pem,
    )


@dataclass
class Plan:
    """What a maintenance or rotation pass decided: keys to insert and keys to update."""

    created: list[SigningKey] = field(default_factory=list)
    changed: list[SigningKey] = field(default_factory=list)
    removed: list[SigningKey] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created or self.changed or self.removed)


def _by_state(keys: list[SigningKey], alg: str, state: KeyState) -> list[SigningKey]:
    found = [k for k in keys if k.alg == alg and k.state is state]
    return sorted(found, key=lambda k: k.created_at)


def _retire(key: SigningKey, now: datetime, policy: RotationPolicy) -> SigningKey:
    return replace(
        key, state=KeyState.RETIRED, retired_at=now, unpublish_at=now + policy.retire_grace
    )


def _activate(key: SigningKey, now: datetime) -> SigningKey:
    return replace(key, state=KeyState.ACTIVE, activated_at=now)


def plan(
    keys: list[SigningKey], now: datetime, policy: RotationPolicy, *, rotate: bool = False
) -> Plan:
    """The transitions due at ``now`` for every algorithm.

    - no key at all (first start): create one ``active`` key immediately, since nothing
      has been published yet that a cache could hold stale;
    - always keep one ``next`` key published so a rotation never waits;
    - rotate when ``rotate`` is asked or the active key is older than ``rotate_every``,
      but only with a ``next`` key that has been published for a full cache lifetime;
    - drop retired keys whose tokens have all expired.
    """
    out = Plan()
    for alg in ALGORITHMS:
        active = _by_state(keys, alg, KeyState.ACTIVE)
        nexts = _by_state(keys, alg, KeyState.NEXT)
        if not active and not nexts:
            first = _activate(generate(alg, now), now)
            out.created.append(first)
            active = [first]
        current = active[-1] if active else None
        due = rotate or current is None or _age(current, now) >= policy.rotate_every
        ready = [k for k in nexts if k.ready(now, policy)]
        if due and ready:
            promoted = _activate(ready[0], now)
            out.changed.append(promoted)
            nexts = [k for k in nexts if k.kid != promoted.kid]
            out.changed.extend(_retire(k, now, policy) for k in active)
        if not nexts:
            out.created.append(generate(alg, now))
    for key in keys:
        if key.state is KeyState.RETIRED and not key.published(now):
            out.removed.append(key)
    return out


def _age(key: SigningKey, now: datetime) -> timedelta:
    return now - (key.activated_at or key.created_at)


def jwks(keys: list[SigningKey], now: datetime) -> dict[str, Any]:
    """The public JWK Set: next, active and not-yet-expired retired keys."""
    return {"keys": [dict(k.public_jwk) for k in keys if k.published(now)]}


def emergency(keys: list[SigningKey], alg: str, now: datetime) -> Plan:
    """A leaked private key: a new key signs at once and the old one leaves the JWKS now.

    Tokens it signed stop verifying, which is the point; relying parties with a cached
    JWKS refetch on the unknown ``kid``."""
    out = Plan()
    out.created.append(_activate(generate(alg, now), now))
    for key in _by_state(keys, alg, KeyState.ACTIVE):
        out.changed.append(replace(key, state=KeyState.RETIRED, retired_at=now, unpublish_at=now))
    return out
