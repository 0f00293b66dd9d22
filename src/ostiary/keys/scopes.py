"""Scopes a provisioning key can hold, one per kind of SCIM operation."""

from __future__ import annotations

from ostiary.keys.errors import PolicyViolation

USERS_READ = "users:read"
USERS_WRITE = "users:write"
GROUPS_READ = "groups:read"
GROUPS_WRITE = "groups:write"
USERS_DEPROVISION = "users:deprovision"
BULK = "bulk"
SSF_MANAGE = "ssf:manage"  # an SSF receiver managing its own event streams

ALL_SCOPES: frozenset[str] = frozenset(
    {USERS_READ, USERS_WRITE, GROUPS_READ, GROUPS_WRITE, USERS_DEPROVISION, BULK, SSF_MANAGE}
)


def validate_scopes(requested: list[str] | tuple[str, ...] | set[str]) -> frozenset[str]:
    scopes = frozenset(s.strip() for s in requested if s.strip())
    unknown = sorted(scopes - ALL_SCOPES)
    if unknown:
        raise PolicyViolation(
            f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(sorted(ALL_SCOPES))}"
        )
    if not scopes:
        raise PolicyViolation("a key needs at least one scope")
    return scopes


def check_grantable(requested: frozenset[str], held: frozenset[str] | None) -> None:
    """Nobody mints a key broader than what they hold (``None``: an owner, holds all)."""
    if held is None:
        return
    extra = sorted(requested - held)
    if extra:
        raise PolicyViolation(f"cannot grant scope(s) you do not hold: {', '.join(extra)}")
