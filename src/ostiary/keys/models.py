"""Domain records for provisioning keys (no persistence here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from ostiary.keys.errors import InsufficientScope


class KeyStatus(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"  # reversible
    REVOKED = "revoked"  # final


@dataclass(frozen=True)
class KeySecret:
    """One version of a key's secret. Rotation adds a version; the old one keeps working
    until ``not_after`` (the overlap window)."""

    version: int
    secret_hmac: bytes = field(repr=False)
    last4: str
    created_at: datetime
    not_after: datetime | None = None


@dataclass(frozen=True)
class KeyRecord:
    id: str
    name: str
    scopes: frozenset[str]
    status: KeyStatus
    created_at: datetime
    expires_at: datetime
    secrets: tuple[KeySecret, ...] = ()
    created_by: str | None = None
    description: str = ""
    last_used_at: datetime | None = None
    last_used_ip: str | None = None

    @property
    def current_version(self) -> int:
        return max((s.version for s in self.secrets), default=0)


@dataclass(frozen=True)
class KeyPrincipal:
    """Who is calling: the verified key and the version of its secret that matched."""

    key_id: str
    version: int
    name: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise InsufficientScope(scope)

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}#v{self.version}"
