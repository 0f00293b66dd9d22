"""User resources (RFC 7643 section 4.1): SCIM JSON <-> :class:`ostiary.directory.models.User`.

Only parsing and rendering live here; the web layer runs them inside a transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ostiary.core.clock import as_utc
from ostiary.directory.models import User
from ostiary.scim import schemas
from ostiary.scim.errors import InvalidSyntax, InvalidValue

# Attributes a client may send that the server owns (RFC 7643 section 2.2, readOnly).
READ_ONLY = {"id", "meta", "groups"}
# Attributes never echoed back or kept in the document.
WRITE_ONLY = {"password"}


def _strip_nulls(value: Any) -> Any:
    """Entra sends ``null`` for unset attributes; an absent value and null mean the same."""
    if isinstance(value, dict):
        return {k: _strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip_nulls(v) for v in value if v is not None]
    return value


def parse_bool(value: Any, attribute: str) -> bool:
    """Booleans, and Entra's ``"True"``/``"False"`` strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise InvalidValue(f"{attribute} must be a boolean")


def _require_schema(body: dict[str, Any], urn: str) -> None:
    declared = body.get("schemas")
    if not isinstance(declared, list) or urn not in declared:
        raise InvalidValue(f"schemas must include {urn}")


def parse_user(
    body: Any, *, user_id: str, hash_password: Callable[[str], str], now: datetime
) -> User:
    """A new :class:`User` from a POST or PUT body (readOnly input ignored)."""
    if not isinstance(body, dict):
        raise InvalidSyntax("the request body must be a JSON object")
    body = _strip_nulls(body)
    _require_schema(body, schemas.USER)
    user_name = body.get("userName")
    if not isinstance(user_name, str) or not user_name.strip():
        raise InvalidValue("userName is required and must be a non-empty string")
    doc = {k: v for k, v in body.items() if k not in READ_ONLY | WRITE_ONLY | {"schemas"}}
    active = parse_bool(doc.pop("active"), "active") if "active" in doc else True
    external_id = doc.pop("externalId", None)
    if external_id is not None and not isinstance(external_id, str):
        raise InvalidValue("externalId must be a string")
    doc.pop("userName")
    password = body.get("password")
    if password is not None and not isinstance(password, str):
        raise InvalidValue("password must be a string")
    raw_name = doc.get("name")
    name: dict[str, Any] = raw_name if isinstance(raw_name, dict) else {}
    emails = doc.get("emails")
    if emails is not None and not isinstance(emails, list):
        raise InvalidValue("emails must be a list")
    return User(
        id=user_id,
        user_name=user_name,
        active=active,
        external_id=external_id,
        display_name=doc.get("displayName"),
        given_name=name.get("givenName"),
        family_name=name.get("familyName"),
        doc=doc,
        password_hash=hash_password(password) if password else None,
        version=1,
        created_at=now,
        updated_at=now,
    )


def etag(version: int) -> str:
    return f'W/"{version}"'


def _iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")


def render_user(user: User, base_url: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "schemas": [schemas.USER]
        + ([schemas.ENTERPRISE_USER] if schemas.ENTERPRISE_USER in user.doc else []),
        "id": user.id,
        "userName": user.user_name,
    }
    if user.external_id is not None:
        out["externalId"] = user.external_id
    out["active"] = user.active
    out.update(user.doc)
    out["meta"] = {
        "resourceType": "User",
        "created": _iso(user.created_at),
        "lastModified": _iso(user.updated_at),
        "location": f"{base_url}/Users/{user.id}",
        "version": etag(user.version),
    }
    return out
