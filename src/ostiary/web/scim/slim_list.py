"""Listing users when ``attributes`` names only column-backed attributes.

A sync agent walks the whole directory asking for ``id,userName,externalId,active``
(plus ``meta``, always returned) to match and to spot what changed. Those live in
columns; reading the JSON ``doc`` (detoasted and parsed per row on PostgreSQL), the
group memberships and rendering the full resource only to project most of it away was
most of a page's cost (docs/performance.md, Sync). Here the page reads those columns
and renders the document the full render would give once projected (RFC 7644 section
3.4.2.5; tests/web/test_scim_list.py compares the two on every paging path).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from ostiary.scim import schemas
from ostiary.scim.filter_schema import ResourceSchema
from ostiary.scim.projection import ALWAYS_KEYS, attribute_path
from ostiary.scim.users import ACTIVE_UNSET, etag
from ostiary.store.tables import users

# Top-level keys a slim row can render, and what it reads for them.
SLIM_KEYS = frozenset({"schemas", "id", "userName", "externalId", "active", "meta"})
SLIM_COLUMNS: Sequence[Any] = (
    users.c.id,
    users.c.user_name,
    users.c.external_id,
    users.c.active,
    users.c.doc[ACTIVE_UNSET].label("active_unset"),  # one key, not the whole document
    users.c.version,
    users.c.created_at,
    users.c.updated_at,
)


def _iso(value: datetime) -> str:
    """ostiary.scim.users.iso, in a third of its time (two per listed user): orjson
    writes the same RFC 3339 text, "Z" for UTC, microseconds only when non-zero."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite's naive UTC times
    elif value.utcoffset():
        value = value.astimezone(UTC)
    return orjson.dumps(value, option=orjson.OPT_UTC_Z)[1:-1].decode()


def slim_keys(
    schema: ResourceSchema, attributes: list[str] | None, excluded: list[str] | None
) -> tuple[str, ...] | None:
    """The top-level keys the projection keeps besides schemas, id and meta: the core
    attributes returned "always" (userName, RFC 7643 s4.1.1), then those ``attributes``
    names; None unless a slim row renders them all."""
    if not attributes or excluded or schema.name != "User":
        return None
    keys = [a.name for a in schema.core.values() if a.returned == "always"]
    for name in attributes:
        path = attribute_path(schema, name)
        if not path:
            return None
        keys.append(path[0])
    kept = tuple(k for k in dict.fromkeys(keys) if k not in ALWAYS_KEYS)
    return kept if all(k in SLIM_KEYS for k in kept) else None


def render_slim_user(base: str, row: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    """What ``project(render_user(...), schema, attributes)`` returns for these keys:
    schemas, id and meta (always), then each named key the user has, in the order named
    (ostiary.scim.projection)."""
    created = _iso(row.created_at)
    # Never-updated users (most of a bulk-loaded directory) share the one formatting.
    modified = created if row.updated_at == row.created_at else _iso(row.updated_at)
    out: dict[str, Any] = {
        "schemas": [schemas.USER],
        "id": row.id,
        "meta": {
            "resourceType": "User",
            "created": created,
            "lastModified": modified,
            "location": f"{base}/Users/{row.id}",
            "version": etag(row.version),
        },
    }
    for key in keys:
        if key == "userName":
            out[key] = row.user_name
        elif key == "externalId" and row.external_id is not None:
            out[key] = row.external_id
        elif key == "active" and not row.active_unset:
            out[key] = row.active
    return out
