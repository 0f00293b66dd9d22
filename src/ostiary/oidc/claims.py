"""Standard claims (OIDC Core 5.1, 5.4) from the directory record SCIM writes.

Scopes map to claims as OIDC Core 5.4 says; ``groups`` (not standard) lists the display
names of the groups the user is a direct member of.
"""

from __future__ import annotations

import json
from typing import Any

from ostiary.directory.models import User


def _primary(items: Any) -> dict[str, Any] | None:
    """The SCIM multi-valued entry marked primary, else the first (RFC 7643 2.4)."""
    entries = [e for e in items or [] if isinstance(e, dict)]
    for entry in entries:
        if entry.get("primary") is True:
            return entry
    return entries[0] if entries else None


def _profile(user: User) -> dict[str, Any]:
    doc = user.doc
    raw = doc.get("name")
    name: dict[str, Any] = raw if isinstance(raw, dict) else {}
    claims: dict[str, Any] = {
        "name": user.display_name or name.get("formatted"),
        "given_name": user.given_name or name.get("givenName"),
        "family_name": user.family_name or name.get("familyName"),
        "middle_name": name.get("middleName"),
        "nickname": doc.get("nickName"),
        "preferred_username": user.user_name,
        "profile": doc.get("profileUrl"),
        "locale": doc.get("locale") or doc.get("preferredLanguage"),
        "zoneinfo": doc.get("timezone"),
    }
    photo = _primary(doc.get("photos"))
    if photo is not None:
        claims["picture"] = photo.get("value")
    if user.updated_at is not None:
        claims["updated_at"] = int(user.updated_at.timestamp())
    return claims


def _email(user: User) -> dict[str, Any]:
    entry = _primary(user.doc.get("emails"))
    if entry is None:
        return {}
    # SCIM records carry no proof of ownership, so nothing is claimed as verified.
    return {"email": entry.get("value"), "email_verified": False}


def _phone(user: User) -> dict[str, Any]:
    entry = _primary(user.doc.get("phoneNumbers"))
    if entry is None:
        return {}
    return {"phone_number": entry.get("value"), "phone_number_verified": False}


def _address(user: User) -> dict[str, Any]:
    entry = _primary(user.doc.get("addresses"))
    if entry is None:
        return {}
    fields = {
        "formatted": "formatted",
        "street_address": "streetAddress",
        "locality": "locality",
        "region": "region",
        "postal_code": "postalCode",
        "country": "country",
    }
    address = {k: entry[v] for k, v in fields.items() if entry.get(v)}
    return {"address": address} if address else {}


def for_scopes(user: User, scopes: set[str], groups: list[str]) -> dict[str, Any]:
    """``sub`` and the claims each granted scope releases; empty values are left out."""
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims |= _profile(user)
    if "email" in scopes:
        claims |= _email(user)
    if "phone" in scopes:
        claims |= _phone(user)
    if "address" in scopes:
        claims |= _address(user)
    if "groups" in scopes:
        claims["groups"] = groups
    released = {k: v for k, v in claims.items() if v is not None}
    return {"sub": user.id, **released}


# Claims an individual request (OIDC Core 5.5) may name: those the scopes map to.
USER_CLAIMS = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "locale",
    "zoneinfo",
    "updated_at",
    "email",
    "email_verified",
    "phone_number",
    "phone_number_verified",
    "address",
    "groups",
)
REQUESTABLE = frozenset(USER_CLAIMS)
ALL_SCOPES = {"profile", "email", "phone", "address", "groups"}


def parse_request(raw: str | None) -> dict[str, list[str]] | None:
    """The ``claims`` parameter (OIDC Core 5.5) reduced to the names asked for where.
    Unknown claims are ignored (5.5.1); a malformed parameter raises ValueError."""
    if raw is None or not raw.strip():
        return None
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("claims must be a JSON object")
    out: dict[str, list[str]] = {}
    for member in ("userinfo", "id_token"):
        wanted = doc.get(member)
        if wanted is None:
            continue
        if not isinstance(wanted, dict):
            raise ValueError(f"claims.{member} must be a JSON object")
        names = [n for n in wanted if n in REQUESTABLE]
        if names:
            out[member] = names
    return out or None


def requested(user: User, names: list[str], groups: list[str]) -> dict[str, Any]:
    """The named claims the record has (absent ones are left out, OIDC Core 5.5)."""
    every = for_scopes(user, ALL_SCOPES, groups)
    return {n: every[n] for n in names if n in every}
