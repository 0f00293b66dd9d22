"""Administrator roles and what each may do (issue 9 points 1 and 3).

One permission vocabulary: a role grants admin-token scopes (``keys:*``, ``audit:read``,
``clients:read``, ``ssf:read``...) and provisioning scopes (``users:read``,
``users:deprovision``...), so a console session and an ``ost_at_`` token are checked
against the same words. The console asks ``Roles.allows(permission)`` on every route.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ostiary.keys import admin_tokens as at
from ostiary.keys import scopes as ks
from ostiary.keys.errors import PolicyViolation

OWNER = "owner"
ADMIN = "admin"
KEY_MANAGER = "key-manager"
AUDITOR = "auditor"
HELPDESK = "helpdesk"
ROLES = (OWNER, ADMIN, KEY_MANAGER, AUDITOR, HELPDESK)

# Managing administrators' roles: only owners (the CLI does it today).
ROLES_MANAGE = "roles:manage"

_KEYS = frozenset({at.KEYS_READ, at.KEYS_WRITE, at.KEYS_REVOKE})
_DIRECTORY_READ = frozenset({ks.USERS_READ, ks.GROUPS_READ})
_READ_ONLY = _DIRECTORY_READ | {at.AUDIT_READ, at.CLIENTS_READ, at.SSF_READ}

PERMISSIONS: dict[str, frozenset[str]] = {
    OWNER: at.ADMIN_SCOPES | ks.ALL_SCOPES | {ROLES_MANAGE},
    ADMIN: at.ADMIN_SCOPES | ks.ALL_SCOPES,
    KEY_MANAGER: _KEYS,
    AUDITOR: _READ_ONLY,  # read-only, the audit trail included; no key metadata
    HELPDESK: frozenset({ks.USERS_READ, ks.USERS_DEPROVISION}),  # users only
}

# Console areas that touch provisioning keys need a second factor in the sign-in.
SECOND_FACTOR = "otp"


def validate_role(role: str) -> str:
    role = role.strip().lower()
    if role not in PERMISSIONS:
        raise PolicyViolation(f"unknown role {role!r}; known: {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class Roles:
    """The roles one administrator holds and the permissions they add up to."""

    names: frozenset[str]

    @classmethod
    def of(cls, names: Iterable[str]) -> Roles:
        return cls(frozenset(n for n in names if n in PERMISSIONS))

    @property
    def permissions(self) -> frozenset[str]:
        out: frozenset[str] = frozenset()
        for name in self.names:
            out |= PERMISSIONS[name]
        return out

    def allows(self, permission: str) -> bool:
        return permission in self.permissions

    @property
    def touches_keys(self) -> bool:
        return bool(self.permissions & _KEYS)

    @property
    def key_scopes(self) -> frozenset[str]:
        """The provisioning scopes a key minted by this administrator may carry: every
        one for a role that manages keys (minting keys is its job), none otherwise."""
        return ks.ALL_SCOPES if self.touches_keys else frozenset()

    def sorted(self) -> list[str]:
        return [r for r in ROLES if r in self.names]
