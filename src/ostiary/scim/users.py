"""User resources (RFC 7643 section 4.1): SCIM JSON <-> :class:`ostiary.directory.models.User`.

Only parsing and rendering live here; the web layer runs them inside a transaction. The
*canonical document* of a user is its SCIM representation without the server-owned parts
(``id``, ``meta``, ``groups``, ``schemas``) and without ``password``: PUT bodies normalise
to it, PATCH applies to it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ostiary.core.clock import as_utc
from ostiary.directory.models import User
from ostiary.scim import schemas
from ostiary.scim.attributes import MS_GROUP_EXTENSIONS
from ostiary.scim.document import declared_schemas, normalise, parse_bool
from ostiary.scim.errors import InvalidSyntax, InvalidValue
from ostiary.scim.registry import ResourceKind

# Columns held outside ``User.doc`` (they are indexed or have a type of their own).
_COLUMNS = {"userName", "externalId", "active", "password"}
# ``active`` has no default in RFC 7643; when a client never set it (or removed it) the
# attribute is not rendered. The column keeps its last value: a new user without it is
# active, and a deactivated user stays deactivated when the attribute is removed (only an
# explicit true reactivates).
ACTIVE_UNSET = "_activeUnset"
EXTRA_URNS = {urn.lower() for urn in MS_GROUP_EXTENSIONS}


def canonical_body(kind: ResourceKind, body: Any) -> dict[str, Any]:
    """The validated canonical document of a POST or PUT body (``password`` kept)."""
    if not isinstance(body, dict):
        raise InvalidSyntax("the request body must be a JSON object")
    declared_schemas(body, schemas.USER)
    doc = normalise(kind, body, extra_urns=EXTRA_URNS)
    if not str(doc.get("userName", "")).strip():
        raise InvalidValue("userName is required and must be a non-empty string")
    return doc


def user_document(user: User) -> dict[str, Any]:
    """The canonical document of a stored user (what PATCH applies to)."""
    doc: dict[str, Any] = {"userName": user.user_name}
    if not user.doc.get(ACTIVE_UNSET):
        doc["active"] = user.active
    if user.external_id is not None:
        doc["externalId"] = user.external_id
    doc.update({k: v for k, v in user.doc.items() if k != ACTIVE_UNSET})
    return doc


def build_user(
    doc: dict[str, Any],
    *,
    user_id: str,
    hash_password: Callable[[str], str],
    now: datetime,
    previous: User | None = None,
) -> User:
    """A :class:`User` record from a canonical document; a new password is hashed here."""
    rest = {k: v for k, v in doc.items() if k not in _COLUMNS}
    name = rest.get("name") or {}
    password = doc.get("password")
    if password is not None:
        password_hash: str | None = hash_password(password)
    else:
        password_hash = previous.password_hash if previous else None
    if "active" in doc:
        active = bool(doc["active"])
    else:
        active = previous.active if previous else True
        rest[ACTIVE_UNSET] = True
    return User(
        id=user_id,
        user_name=str(doc["userName"]),
        active=active,
        external_id=doc.get("externalId"),
        display_name=rest.get("displayName"),
        given_name=name.get("givenName"),
        family_name=name.get("familyName"),
        doc=rest,
        password_hash=password_hash,
        version=previous.version + 1 if previous else 1,
        created_at=previous.created_at if previous else now,
        updated_at=now,
    )


def parse_user(
    body: Any, *, user_id: str, hash_password: Callable[[str], str], now: datetime
) -> User:
    """A new :class:`User` from a POST body, core and enterprise schemas only (kept for
    callers outside the web layer; the endpoints use the configured registry)."""
    from ostiary.scim.registry import build_registry

    doc = canonical_body(build_registry().user, body)
    return build_user(doc, user_id=user_id, hash_password=hash_password, now=now)


__all__ = ["etag", "parse_bool", "parse_user", "render_user"]


def etag(version: int) -> str:
    return f'W/"{version}"'


def iso(value: datetime | None) -> str | None:
    return None if value is None else as_utc(value).isoformat().replace("+00:00", "Z")


# The secret-named attributes of the User schemas that ``render_user`` never emits: the
# core ``password`` is held in a column (``_COLUMNS``; RFC 7643 section 4.1.1 returns it
# "never"). The keys the renderer adds itself (schemas, id, groups, meta, a manager's
# $ref) are not secret-named (tests/audit/test_scim_create_entry.py renders them all).
_NEVER_RENDERED = frozenset({("password",)})


def renders_no_secrets(kind: ResourceKind) -> bool:
    """Whether no User rendered under ``kind`` (a just-normalised one: its keys are the
    schemas' attribute names) can carry a key whose value audit redaction replaces, so
    its audit document may skip the secret-key search. False as soon as the core,
    enterprise or a configured extension schema declares such an attribute elsewhere
    (a custom ``token`` or ``secret``): ``kind.secret_paths`` is worked out once, when
    the configuration is loaded, and this answer once per kind (every create asks)."""
    known = _CLEAN.get(id(kind))
    if known is not None and known[0] is kind:
        return known[1]
    clean = all(path in _NEVER_RENDERED for path in kind.secret_paths)
    _CLEAN[id(kind)] = (kind, clean)
    return clean


# id(kind) -> (kind, its answer); the kind is kept so its id cannot be reused.
_CLEAN: dict[int, tuple[ResourceKind, bool]] = {}


def render_user(
    user: User, base_url: str, groups: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The SCIM JSON of ``user``; ``groups`` are its direct memberships when loaded."""
    urns = [k for k in user.doc if k.startswith("urn:")]
    out: dict[str, Any] = {
        "schemas": [schemas.USER, *urns],
        "id": user.id,
        "userName": user.user_name,
    }
    if user.external_id is not None:
        out["externalId"] = user.external_id
    if not user.doc.get(ACTIVE_UNSET):
        out["active"] = user.active
    out.update({k: v for k, v in user.doc.items() if k != ACTIVE_UNSET})
    manager = user.doc.get(schemas.ENTERPRISE_USER, {}).get("manager")
    if manager:
        out[schemas.ENTERPRISE_USER] = {
            **out[schemas.ENTERPRISE_USER],
            "manager": {**manager, "$ref": f"{base_url}/Users/{manager['value']}"},
        }
    if groups:
        out["groups"] = groups
    out["meta"] = {
        "resourceType": "User",
        "created": iso(user.created_at),
        "lastModified": iso(user.updated_at),
        "location": f"{base_url}/Users/{user.id}",
        "version": etag(user.version),
    }
    return out
