"""Domain records for provisioning keys (no persistence here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

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
class KeyBinding:
    """Optional per-key restrictions and schedules (table ``provisioning_key_settings``).

    ``attributes`` maps a SCIM resource type (``User``, ``Group``) to the attribute paths
    the key may write (lowercase); a type absent from the map is unrestricted. ``delivery``
    says where scheduled rotation sends the new secret: ``{"kind": "webhook", "url": ..}``
    or ``{"kind": "file", "path": ..}``."""

    require_dpop: bool = False
    allowed_cidrs: tuple[str, ...] = ()
    attributes: dict[str, frozenset[str]] | None = None
    rotate_every: timedelta | None = None
    rotation_overlap: timedelta = timedelta(hours=24)
    delivery: dict[str, Any] | None = None
    next_rotation_at: datetime | None = None
    warnings_sent: tuple[int, ...] = ()
    known_networks: tuple[str, ...] = ()


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
    binding: KeyBinding = field(default_factory=KeyBinding)

    @property
    def current_version(self) -> int:
        return max((s.version for s in self.secrets), default=0)

    @property
    def current_secret(self) -> KeySecret | None:
        return max(self.secrets, key=lambda s: s.version) if self.secrets else None


@dataclass(frozen=True)
class KeyPrincipal:
    """Who is calling: the verified key and the version of its secret that matched."""

    key_id: str
    version: int
    name: str
    scopes: frozenset[str]
    require_dpop: bool = False
    allowed_cidrs: tuple[str, ...] = ()
    attributes: dict[str, frozenset[str]] | None = None

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise InsufficientScope(scope)

    @property
    def actor(self) -> str:
        return f"key:{self.key_id}#v{self.version}"
