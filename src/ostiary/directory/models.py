"""Directory records.

A user is a set of indexed columns (what filters, sorting, uniqueness and sign-in need)
plus ``doc``: the rest of the SCIM representation (name, emails, phone numbers, addresses,
the enterprise extension...) kept as a JSON document. SCIM renders ``doc``; OIDC maps its
claims from it. ``id``, ``meta``, ``password`` and ``groups`` are never part of ``doc``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class User:
    id: str
    user_name: str
    active: bool = True
    external_id: str | None = None
    display_name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    emails: list[str] = field(default_factory=list)
    doc: dict[str, Any] = field(default_factory=dict)
    password_hash: str | None = field(default=None, repr=False)
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def user_name_key(self) -> str:
        return normalise_user_name(self.user_name)


@dataclass
class Member:
    id: str
    type: str  # "User" or "Group"
    display: str | None = None


@dataclass
class Group:
    id: str
    display_name: str
    external_id: str | None = None
    doc: dict[str, Any] = field(default_factory=dict)
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None


def normalise_user_name(user_name: str) -> str:
    """userName is unique case-insensitively (RFC 7643 section 4.1.1, caseExact false)."""
    return user_name.casefold()
