"""Group resources (RFC 7643 section 4.2).

Members are not part of the group's document: they are rows (one per membership), so a
one-member PATCH on a group of 100,000 touches one row. Here a group body splits into its
canonical document and its list of member references.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ostiary.directory.models import Group, Member
from ostiary.scim import schemas
from ostiary.scim.document import declared_schemas, normalise
from ostiary.scim.errors import InvalidSyntax, InvalidValue
from ostiary.scim.registry import ResourceKind
from ostiary.scim.users import EXTRA_URNS, etag, iso

MEMBER_TYPES = {"user": "User", "group": "Group"}


@dataclass(frozen=True)
class MemberRef:
    """A member as a client names it; the store checks it exists and finds its type."""

    value: str
    type: str | None = None


def member_refs(raw: Any) -> list[MemberRef]:
    items = raw if isinstance(raw, list) else [raw]
    out: list[MemberRef] = []
    seen: set[str] = set()
    for item in items:
        if item is None:
            continue
        if isinstance(item, str):  # a bare id
            item = {"value": item}
        if not isinstance(item, dict):
            raise InvalidValue("each member must be an object with a value")
        value = item.get("value")
        if not isinstance(value, str) or not value:
            raise InvalidValue("each member needs a value (the member's id)")
        kind = item.get("type")
        if kind is not None:
            if not isinstance(kind, str) or kind.lower() not in MEMBER_TYPES:
                raise InvalidValue("member type must be User or Group")
            kind = MEMBER_TYPES[kind.lower()]
        if value not in seen:
            seen.add(value)
            out.append(MemberRef(value, kind))
    return out


def canonical_body(kind: ResourceKind, body: Any) -> tuple[dict[str, Any], list[MemberRef]]:
    if not isinstance(body, dict):
        raise InvalidSyntax("the request body must be a JSON object")
    declared_schemas(body, schemas.GROUP)
    members_raw = next((v for k, v in body.items() if k.lower() == "members"), None)
    rest = {k: v for k, v in body.items() if k.lower() != "members"}
    doc = normalise(kind, rest, extra_urns=EXTRA_URNS)
    if not str(doc.get("displayName", "")).strip():
        raise InvalidValue("displayName is required and must be a non-empty string")
    return doc, member_refs(members_raw) if members_raw is not None else []


def group_document(group: Group) -> dict[str, Any]:
    doc: dict[str, Any] = {"displayName": group.display_name}
    if group.external_id is not None:
        doc["externalId"] = group.external_id
    doc.update(group.doc)
    return doc


def build_group(
    doc: dict[str, Any], *, group_id: str, now: datetime, previous: Group | None = None
) -> Group:
    rest = {k: v for k, v in doc.items() if k not in {"displayName", "externalId", "members"}}
    return Group(
        id=group_id,
        display_name=str(doc["displayName"]),
        external_id=doc.get("externalId"),
        doc=rest,
        version=previous.version + 1 if previous else 1,
        created_at=previous.created_at if previous else now,
        updated_at=now,
    )


def render_member(member: Member, base_url: str) -> dict[str, Any]:
    out = {
        "value": member.id,
        "$ref": f"{base_url}/{member.type}s/{member.id}",
        "type": member.type,
    }
    if member.display is not None:
        out["display"] = member.display
    return out


def render_group(
    group: Group, base_url: str, members: list[Member] | None = None
) -> dict[str, Any]:
    """The SCIM JSON of ``group``; ``members`` None leaves them out (excludedAttributes)."""
    urns = [k for k in group.doc if k.startswith("urn:")]
    out: dict[str, Any] = {
        "schemas": [schemas.GROUP, *urns],
        "id": group.id,
        "displayName": group.display_name,
    }
    if group.external_id is not None:
        out["externalId"] = group.external_id
    out.update(group.doc)
    if members:
        out["members"] = [render_member(m, base_url) for m in members]
    out["meta"] = {
        "resourceType": "Group",
        "created": iso(group.created_at),
        "lastModified": iso(group.updated_at),
        "location": f"{base_url}/Groups/{group.id}",
        "version": etag(group.version),
    }
    return out
