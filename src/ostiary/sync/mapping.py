"""Declarative attribute mapping: a source record (columns or LDAP attributes) -> SCIM User.

``[users.attributes]`` maps a SCIM attribute path to a rule::

    userName = { column = "mail", transforms = ["trim", "lower"] }
    externalId = "employee_id"                       # shorthand: the column name
    "name.givenName" = "first"
    "emails[work]" = { column = "mail", transforms = ["lower"] }
    "enterprise:department" = "dept"                 # the enterprise extension (RFC 7643 s4.3)
    active = { column = "status", map = { active = true, left = false }, default = true }

``[groups] column = "groups", split = ";"`` turns a column into group memberships.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ostiary.scim import schemas
from ostiary.sync.errors import ConfigInvalid, SourceError

PATH = re.compile(
    r"^(?:(?P<urn>urn:[^ ]+:)|(?P<ent>enterprise:))?(?P<attr>[A-Za-z$][\w$-]*)"
    r"(?:\.(?P<sub>[A-Za-z$][\w$-]*))?(?:\[(?P<type>[A-Za-z0-9_-]+)\])?$"
)
# RFC 7643 s4.1.2 multi-valued attributes a typed path ("emails[work]") may address.
MULTI_VALUED = {"emails", "phoneNumbers", "ims", "photos", "addresses", "entitlements", "roles"}


def _split(sep: str) -> Callable[[Any], Any]:
    return lambda v: [p.strip() for p in v.split(sep) if p.strip()] if isinstance(v, str) else v


def _each(fn: Callable[[str], Any]) -> Callable[[Any], Any]:
    def apply(v: Any) -> Any:
        if isinstance(v, list):
            return [fn(x) if isinstance(x, str) else x for x in v]
        return fn(v) if isinstance(v, str) else v

    return apply


def _first(v: Any) -> Any:
    return (v[0] if v else None) if isinstance(v, list) else v


def _guid(v: Any) -> Any:
    # Active Directory's objectGUID is 16 little-endian bytes; render it the way AD does.
    return str(uuid.UUID(bytes_le=bytes(v))) if isinstance(v, bytes | bytearray) else v


def _ad_active(v: Any) -> Any:
    # userAccountControl bit 0x2 is ACCOUNTDISABLE.
    try:
        return not int(_first(v)) & 0x2
    except (TypeError, ValueError):
        return v


def _cn(v: str) -> str:
    # "cn=Engineering,ou=groups,dc=example,dc=com" -> "Engineering"
    first = v.split(",", 1)[0]
    return first.split("=", 1)[1].strip() if "=" in first else v


TRANSFORMS: dict[str, Callable[[Any], Any]] = {
    "trim": _each(str.strip),
    "lower": _each(str.lower),
    "upper": _each(str.upper),
    "first": _first,
    "guid": _guid,
    "ad_active": _ad_active,
    "cn": _each(_cn),
    "str": lambda v: v if v is None else str(v),
}


def transform(name: str) -> Callable[[Any], Any]:
    if name.startswith("split:"):
        return _split(name[len("split:") :] or ",")
    if name not in TRANSFORMS:
        raise ConfigInvalid(
            f"unknown transform {name!r} (known: {', '.join(TRANSFORMS)}, split:SEP)"
        )
    return TRANSFORMS[name]


@dataclass(frozen=True)
class Target:
    """Where a value lands in the User document."""

    container: str | None  # an extension URN, or None for the core schema
    attr: str
    sub: str | None
    type: str | None

    @property
    def compare_path(self) -> str:
        """The unit the planner compares: a leaf, or a whole multi-valued attribute."""
        head = f"{self.container}:{self.attr}" if self.container else self.attr
        return head if self.type else (f"{head}.{self.sub}" if self.sub else head)


def parse_target(path: str) -> Target:
    m = PATH.match(path)
    if not m:
        raise ConfigInvalid(f"users.attributes: {path!r} is not a SCIM attribute path")
    container = schemas.ENTERPRISE_USER if m["ent"] else (m["urn"][:-1] if m["urn"] else None)
    if m["type"] and m["attr"] not in MULTI_VALUED:
        raise ConfigInvalid(f"users.attributes: {m['attr']} is not multi-valued ({path!r})")
    return Target(container, m["attr"], m["sub"], m["type"])


@dataclass(frozen=True)
class Rule:
    target: Target
    column: str | None
    constant: Any
    steps: tuple[Callable[[Any], Any], ...]
    value_map: dict[str, Any] | None
    default: Any

    def value(self, record: dict[str, Any]) -> Any:
        v = self.constant if self.column is None else record.get(self.column)
        for step in self.steps:
            v = step(v)
        if v in ("", [], None):
            v = None
        if self.value_map is not None and v is not None:
            key = str(v)
            if key not in self.value_map and key.lower() not in self.value_map:
                if self.default is None:
                    raise SourceError(f"{self.column}={key!r} is not in the value map")
                return self.default
            return self.value_map.get(key, self.value_map.get(key.lower()))
        return self.default if v is None else v


def parse_rule(path: str, spec: Any) -> Rule:
    if isinstance(spec, str):
        spec = {"column": spec}
    if not isinstance(spec, dict) or not ({"column", "value"} & spec.keys()):
        raise ConfigInvalid(f"users.attributes.{path} needs a column (or a constant value)")
    value_map = spec.get("map")
    if value_map is not None:
        value_map = {str(k): v for k, v in value_map.items()} | {
            str(k).lower(): v for k, v in value_map.items()
        }
    steps = tuple(transform(t) for t in spec.get("transforms", []))
    return Rule(
        parse_target(path),
        spec.get("column"),
        spec.get("value"),
        steps,
        value_map,
        spec.get("default"),
    )


@dataclass(frozen=True)
class DesiredUser:
    key: str  # externalId when mapped, else the lowercased userName
    doc: dict[str, Any]

    @property
    def user_name(self) -> str:
        return str(self.doc["userName"])


@dataclass(frozen=True)
class DesiredGroup:
    name: str
    member_keys: frozenset[str]


@dataclass(frozen=True)
class Mapping:
    rules: tuple[Rule, ...]
    group_column: str | None = None
    group_steps: tuple[Callable[[Any], Any], ...] = ()

    @property
    def compare_paths(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.target.compare_path for r in self.rules))

    @property
    def has_external_id(self) -> bool:
        return any(r.target.attr == "externalId" and not r.target.container for r in self.rules)

    def user(self, record: dict[str, Any]) -> DesiredUser:
        doc: dict[str, Any] = {"schemas": [schemas.USER]}
        for rule in self.rules:
            place(doc, rule.target, rule.value(record))
        if not isinstance(doc.get("userName"), str) or not doc["userName"].strip():
            raise SourceError(f"a record has no userName: {sorted(record)[:5]}...")
        if schemas.ENTERPRISE_USER in doc:
            doc["schemas"].append(schemas.ENTERPRISE_USER)
        ext = doc.get("externalId")
        return DesiredUser(str(ext) if ext else doc["userName"].lower(), doc)

    def groups_of(self, record: dict[str, Any]) -> list[str]:
        if not self.group_column:
            return []
        v: Any = record.get(self.group_column)
        for step in self.group_steps:
            v = step(v)
        if v in (None, ""):
            return []
        return [str(g) for g in (v if isinstance(v, list) else [v]) if str(g).strip()]


def place(doc: dict[str, Any], t: Target, value: Any) -> None:
    if value is None:
        return
    holder = doc.setdefault(t.container, {}) if t.container else doc
    if t.type:
        entries = holder.setdefault(t.attr, [])
        entries.append({"type": t.type, "value": value} | ({} if entries else {"primary": True}))
    elif t.sub:
        holder.setdefault(t.attr, {})[t.sub] = value
    else:
        holder[t.attr] = value


def parse_mapping(users: dict[str, Any], groups: dict[str, Any]) -> Mapping:
    attributes = users.get("attributes")
    if not isinstance(attributes, dict) or "userName" not in attributes:
        raise ConfigInvalid("[users.attributes] must map at least userName")
    rules = tuple(parse_rule(path, spec) for path, spec in attributes.items())
    steps: list[Callable[[Any], Any]] = []
    if "split" in groups:
        steps.append(_split(str(groups["split"])))
    steps += [transform(t) for t in groups.get("transforms", [])]
    return Mapping(rules, groups.get("column"), tuple(steps))


# Ostiary as the source: the downstream copy keys on Ostiary's stable user id (externalId),
# so a rename or a new email never breaks the link. The outbox push and `ostiary sync`
# with `type = "ostiary"` use this same mapping, so a backfill and the live push agree.
OSTIARY_USERS: dict[str, Any] = {
    "attributes": {
        "userName": "userName",
        "externalId": "id",
        "name.givenName": "name.givenName",
        "name.familyName": "name.familyName",
        "displayName": "displayName",
        "title": "title",
        "enterprise:department": "enterprise:department",
        "active": {"column": "active", "default": True},
    }
}
OSTIARY_GROUPS: dict[str, Any] = {"column": "groups"}


def ostiary_mapping() -> Mapping:
    return parse_mapping(OSTIARY_USERS, OSTIARY_GROUPS)
