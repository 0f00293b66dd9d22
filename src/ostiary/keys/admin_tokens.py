"""Admin API tokens: scoped, expiring bearer credentials for automation (issue 9 point 1).

They share the provisioning key machinery (``ost_at_`` prefix, base62 secret, CRC32,
HMAC under the pepper, constant-time comparison). A token holds admin scopes, which say
what it may do, and provisioning scopes, the ceiling of what keys it may mint: nobody
mints a key broader than what they hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from ostiary.core.clock import as_utc
from ostiary.core.crypto.hashing import constant_time_equal
from ostiary.keys import format as key_format
from ostiary.keys.errors import InsufficientScope, InvalidKey, PolicyViolation
from ostiary.keys.models import KeyStatus
from ostiary.keys.scopes import ALL_SCOPES
from ostiary.keys.verify import secret_hmac

KEYS_READ = "keys:read"
KEYS_WRITE = "keys:write"  # create, rotate, disable, enable
KEYS_REVOKE = "keys:revoke"
APPROVALS = "approvals:decide"
AUDIT_READ = "audit:read"  # the audit trail API: search, proofs, checkpoints (issue 5)
CLIENTS_READ = "clients:read"  # OAuth/OIDC client registrations (issue 6 point 2)
CLIENTS_WRITE = "clients:write"  # create, update, rotate-secret, delete
SSF_READ = "ssf:read"  # SSF streams and delivery status (the console, issue 9)
ADMIN_SCOPES = frozenset(
    {
        KEYS_READ,
        KEYS_WRITE,
        KEYS_REVOKE,
        APPROVALS,
        AUDIT_READ,
        CLIENTS_READ,
        CLIENTS_WRITE,
        SSF_READ,
    }
)
MAX_LIFETIME = timedelta(days=365)


@dataclass(frozen=True)
class AdminToken:
    id: str
    name: str
    scopes: frozenset[str]
    status: KeyStatus
    created_at: datetime
    expires_at: datetime
    secret_hmac: bytes = field(repr=False)
    last4: str
    created_by: str | None = None


@dataclass(frozen=True)
class AdminPrincipal:
    token_id: str
    name: str
    scopes: frozenset[str]

    def require(self, scope: str) -> None:
        if scope not in self.scopes:
            raise InsufficientScope(scope)

    @property
    def key_scopes(self) -> frozenset[str]:
        """The provisioning scopes this token may grant."""
        return self.scopes & ALL_SCOPES


class AdminTokenReader(Protocol):
    def get(self, token_id: str) -> AdminToken | None: ...


def create_admin_token(
    *,
    name: str,
    scopes: list[str],
    now: datetime,
    pepper: bytes,
    lifetime: timedelta,
    created_by: str | None = None,
) -> tuple[str, AdminToken]:
    name = name.strip()
    if not name or len(name) > 200:
        raise PolicyViolation("a token needs a name of 1 to 200 characters")
    granted = frozenset(s.strip() for s in scopes if s.strip())
    unknown = sorted(granted - ADMIN_SCOPES - ALL_SCOPES)
    if unknown or not granted:
        raise PolicyViolation(
            f"unknown or no scope(s) {', '.join(unknown)}; known: "
            f"{', '.join(sorted(ADMIN_SCOPES | ALL_SCOPES))}"
        )
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise PolicyViolation("an admin token lives between 1 second and 365 days")
    token, parsed = key_format.generate(prefix=key_format.ADMIN_PREFIX)
    record = AdminToken(
        id=parsed.key_id,
        name=name,
        scopes=granted,
        status=KeyStatus.ACTIVE,
        created_at=now,
        expires_at=now + lifetime,
        secret_hmac=secret_hmac(pepper, parsed.secret),
        last4=token[-4:],
        created_by=created_by,
    )
    return token, record


def verify_admin_token(
    token: str, reader: AdminTokenReader, pepper: bytes, now: datetime
) -> AdminPrincipal:
    parsed = key_format.parse(token, key_format.ADMIN_PREFIX)
    if parsed is None:
        raise InvalidKey("malformed")
    record = reader.get(parsed.key_id)
    digest = secret_hmac(pepper, parsed.secret)
    if record is None:
        raise InvalidKey("unknown", parsed.key_id)
    if not constant_time_equal(digest, record.secret_hmac):
        raise InvalidKey("wrong", parsed.key_id)
    if record.status is not KeyStatus.ACTIVE:
        raise InvalidKey(record.status.value, record.id)
    if as_utc(record.expires_at) <= now:
        raise InvalidKey("expired", record.id)
    return AdminPrincipal(token_id=record.id, name=record.name, scopes=record.scopes)
