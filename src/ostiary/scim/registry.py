"""The schemas and resource types this server serves, custom extensions included.

Custom extensions come from configuration (``OSTIARY_SCIM_EXTENSIONS``): inline JSON or the
path of a JSON file holding a list of schema documents in the RFC 7643 section 7 shape,
each with one more member, ``resourceType`` ("User" or "Group"), and optionally
``required`` (whether every resource must carry the extension).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ostiary.audit.events import is_secret_field
from ostiary.core.errors import ConfigError
from ostiary.scim import schemas
from ostiary.scim.attributes import (
    ENTERPRISE_SCHEMA,
    GROUP_SCHEMA,
    META,
    USER_SCHEMA,
    Attr,
    SchemaDef,
)

_TYPES = {"string", "boolean", "decimal", "integer", "dateTime", "reference", "complex", "binary"}
_MUTABILITY = {"readOnly", "readWrite", "immutable", "writeOnly"}
# RFC 7643 section 2.1 ATTRNAME (filters can only name these), and a URN that a JSON path
# into the stored document can quote (no quote, backslash or control character).
_ATTRNAME = re.compile(r"\$?[A-Za-z][\w$-]*")
_URN = re.compile(r'urn:[^"\\\x00-\x1f]+')


@dataclass(frozen=True)
class ResourceSchema:
    """What filters, sorting and projection resolve names against for one resource
    type: its core attributes (with ``meta``) and each extension's, keyed by lowercase
    name. A view of a :class:`ResourceKind`, built from the same :class:`Attr` objects
    the ``/Schemas`` documents and validation use, so the three cannot drift apart."""

    name: str
    core_urn: str
    core: Mapping[str, Attr]
    extensions: Mapping[str, Mapping[str, Attr]]

    def schema_for(self, urn: str | None) -> tuple[str | None, Mapping[str, Attr]] | None:
        """The (extension URN or None for core, attributes) a URN prefix names."""
        if urn is None or urn.lower() == self.core_urn.lower():
            return None, self.core
        for ext_urn, attrs in self.extensions.items():
            if urn.lower() == ext_urn.lower():
                return ext_urn, attrs
        return None


def _by_name(attrs: tuple[Attr, ...]) -> dict[str, Attr]:
    return {a.name.lower(): a for a in attrs}


@dataclass(frozen=True)
class Extension:
    schema: SchemaDef
    required: bool = False


@dataclass(frozen=True)
class ResourceKind:
    name: str  # "User" / "Group"
    endpoint: str  # "/Users"
    core: SchemaDef
    extensions: tuple[Extension, ...] = ()
    _by_urn: dict[str, SchemaDef] = field(default_factory=dict, compare=False, repr=False)
    search: ResourceSchema = field(init=False, compare=False, repr=False)
    # Where an attribute of these schemas (at any depth, extensions included) has a name
    # whose value audit redaction replaces (``password``, a custom ``token``...), as key
    # paths. Worked out once, when the configuration is loaded: a rendered resource can
    # skip the audit's secret-key search only if its renderer emits none of these.
    secret_paths: tuple[tuple[str, ...], ...] = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        self._by_urn.update({e.schema.urn.lower(): e.schema for e in self.extensions})
        blocks: list[tuple[tuple[str, ...], tuple[Attr, ...]]] = [((), (*self.core.attrs, META))]
        blocks += [((e.schema.urn,), e.schema.attrs) for e in self.extensions]
        paths = tuple(p for prefix, attrs in blocks for p in _secret_paths(prefix, attrs))
        object.__setattr__(self, "secret_paths", paths)
        view = ResourceSchema(
            self.name,
            self.core.urn,
            _by_name((*self.core.attrs, META)),
            {e.schema.urn: _by_name(e.schema.attrs) for e in self.extensions},
        )
        object.__setattr__(self, "search", view)

    def extension(self, urn: str) -> SchemaDef | None:
        return self._by_urn.get(urn.lower())

    def document(self, base_url: str) -> dict[str, Any]:
        return {
            "schemas": [schemas.RESOURCE_TYPE],
            "id": self.name,
            "name": self.name,
            "endpoint": self.endpoint,
            "description": f"{self.name} resources",
            "schema": self.core.urn,
            "schemaExtensions": [
                {"schema": e.schema.urn, "required": e.required} for e in self.extensions
            ],
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/{self.name}",
            },
        }


def _secret_paths(prefix: tuple[str, ...], attrs: tuple[Attr, ...]) -> list[tuple[str, ...]]:
    out = []
    for a in attrs:
        path = (*prefix, a.name)
        if is_secret_field(a.name):
            out.append(path)
        out += _secret_paths(path, a.sub)
    return out


@dataclass(frozen=True)
class Registry:
    user: ResourceKind
    group: ResourceKind

    def kinds(self) -> tuple[ResourceKind, ...]:
        return (self.user, self.group)

    def schema_defs(self) -> list[SchemaDef]:
        out = [self.user.core, self.group.core]
        for kind in self.kinds():
            out.extend(e.schema for e in kind.extensions)
        return out


def _attr(doc: Any, where: str) -> Attr:
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        raise ConfigError(f"{where}: each attribute needs a name")
    name = doc["name"]
    if not _ATTRNAME.fullmatch(name):
        raise ConfigError(f"{where}: {name!r} is not an attribute name (RFC 7643 2.1)")
    kind = doc.get("type", "string")
    if kind not in _TYPES:
        raise ConfigError(f"{where}.{name}: unknown type {kind!r}")
    mutability = doc.get("mutability", "readWrite")
    if mutability not in _MUTABILITY:
        raise ConfigError(f"{where}.{name}: unknown mutability {mutability!r}")
    sub = tuple(_attr(s, f"{where}.{name}") for s in doc.get("subAttributes") or [])
    if kind == "complex" and not sub:
        raise ConfigError(f"{where}.{name}: a complex attribute needs subAttributes")
    canonical = tuple(str(v) for v in doc.get("canonicalValues") or [])
    return Attr(
        name,
        type=kind,
        multi=bool(doc.get("multiValued", False)),
        required=bool(doc.get("required", False)),
        mutability=mutability,
        returned=doc.get("returned", "default"),
        uniqueness=doc.get("uniqueness", "none"),
        case_exact=bool(doc.get("caseExact", False)),
        sub=sub,
        canonical=canonical,
        strict_canonical=bool(canonical),
        reference_types=tuple(doc.get("referenceTypes") or []),
        description=str(doc.get("description", "")),
    )


def _extension(doc: Any) -> tuple[str, Extension]:
    if not isinstance(doc, dict):
        raise ConfigError("scim_extensions: each extension must be a JSON object")
    urn = doc.get("id")
    if not isinstance(urn, str) or not _URN.fullmatch(urn):
        raise ConfigError("scim_extensions: each extension needs an 'id' that is a URN")
    target = doc.get("resourceType")
    if target not in {"User", "Group"}:
        raise ConfigError(f"scim_extensions {urn}: resourceType must be 'User' or 'Group'")
    attrs = tuple(_attr(a, urn) for a in doc.get("attributes") or [])
    if not attrs:
        raise ConfigError(f"scim_extensions {urn}: no attributes")
    schema = SchemaDef(urn, str(doc.get("name", urn)), str(doc.get("description", "")), attrs)
    return target, Extension(schema, bool(doc.get("required", False)))


def parse_extensions(source: str | None) -> list[Any]:
    """The extension documents from inline JSON or a JSON file path."""
    if not source or not source.strip():
        return []
    text = source.strip()
    if not text.startswith(("[", "{")):
        try:
            text = Path(text).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"scim_extensions: cannot read {source}: {exc}") from None
    try:
        docs = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"scim_extensions: not valid JSON: {exc}") from None
    return docs if isinstance(docs, list) else [docs]


def build_registry(source: str | None = None) -> Registry:
    user_ext = [Extension(ENTERPRISE_SCHEMA)]
    group_ext: list[Extension] = []
    taken = {USER_SCHEMA.urn, GROUP_SCHEMA.urn, ENTERPRISE_SCHEMA.urn}
    for doc in parse_extensions(source):
        target, ext = _extension(doc)
        if ext.schema.urn in taken:
            raise ConfigError(f"scim_extensions: {ext.schema.urn} is declared twice")
        taken.add(ext.schema.urn)
        (user_ext if target == "User" else group_ext).append(ext)
    return Registry(
        user=ResourceKind("User", "/Users", USER_SCHEMA, tuple(user_ext)),
        group=ResourceKind("Group", "/Groups", GROUP_SCHEMA, tuple(group_ext)),
    )
