"""Validating and normalising a resource body against its schemas (RFC 7643 section 2).

The output is the *canonical* form the rest of the code relies on: attribute names spelled
as the schema spells them (SCIM names are case-insensitive), nulls removed (Entra sends
them for unset attributes), readOnly input dropped, extension attributes under their URN,
booleans real booleans (Entra sends ``"False"``), and every value of the declared type.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ostiary.scim.attributes import Attr, SchemaDef
from ostiary.scim.errors import InvalidValue, Mutability
from ostiary.scim.registry import ResourceKind

# Server-owned attributes never taken from a client (RFC 7643 section 3.1, 4.1.2).
SERVER_OWNED = {"id", "meta", "schemas"}


def parse_bool(value: Any, attribute: str) -> bool:
    """Booleans, and Entra's ``"True"``/``"False"`` strings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "false"}:
        return value.lower() == "true"
    raise InvalidValue(f"{attribute} must be a boolean")


def _scalar(attr: Attr, value: Any, where: str) -> Any:
    kind = attr.type
    if kind == "boolean":
        return parse_bool(value, where)
    if kind == "integer":
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidValue(f"{where} must be an integer")
        return value
    if kind == "decimal":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(f"{where} must be a number")
        return value
    if not isinstance(value, str):
        raise InvalidValue(f"{where} must be a string")
    if kind == "dateTime":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue(f"{where} must be an xsd:dateTime") from None
    if attr.strict_canonical and value not in attr.canonical:
        allowed = ", ".join(attr.canonical)
        raise InvalidValue(f"{where} must be one of {allowed}")
    return value


def _complex(attr: Attr, value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidValue(f"{where} must be a complex value (a JSON object)")
    out: dict[str, Any] = {}
    for key, sub_value in value.items():
        sub = attr.child(key)
        if sub is None or sub_value is None:
            continue  # unknown sub-attributes are ignored, like unknown attributes
        if sub.mutability == "readOnly":
            continue
        out[sub.name] = _single(sub, sub_value, f"{where}.{sub.name}")
    for sub in attr.sub:
        if sub.required and sub.mutability != "readOnly" and sub.name not in out and out:
            raise InvalidValue(f"{where}.{sub.name} is required")
    return out


def _single(attr: Attr, value: Any, where: str) -> Any:
    if attr.type != "complex":
        return _scalar(attr, value, where)
    if isinstance(value, str) and attr.child("value") is not None:
        # Entra sets manager by a bare id string; "" clears it.
        value = {"value": value} if value else {}
    return _complex(attr, value, where)


def value_of(attr: Attr, value: Any, where: str) -> Any:
    """A validated value for ``attr`` (a list for multi-valued ones; a lone value is wrapped)."""
    if not attr.multi:
        if isinstance(value, list) and attr.type == "complex" and len(value) <= 1:
            # Entra wraps single-valued complex values (manager) in a one-element list.
            value = value[0] if value else {}
        if isinstance(value, list):
            raise InvalidValue(f"{where} is single-valued")
        return _single(attr, value, where)
    items = value if isinstance(value, list) else [value]
    out = [_single(attr, v, where) for v in items if v is not None]
    out = [v for v in out if v != {}]
    if attr.type == "complex" and sum(1 for v in out if v.get("primary") is True) > 1:
        raise InvalidValue(f"{where}: at most one value may be primary")
    return out


def _block(schema: SchemaDef, body: dict[str, Any], where: str, strict: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in body.items():
        if value is None or key in SERVER_OWNED:
            continue
        attr = schema.attr(key)
        if attr is None:
            if strict:
                raise InvalidValue(f"{where}: unknown attribute {key!r}")
            continue
        if attr.mutability == "readOnly":
            continue  # RFC 7643 section 2.2: readOnly input SHALL be ignored
        checked = value_of(attr, value, attr.name)
        if checked in ([], {}):
            continue
        out[attr.name] = checked
    return out


def normalise(kind: ResourceKind, body: dict[str, Any], *, extra_urns: set[str]) -> dict[str, Any]:
    """The canonical document for a create or full replace, required attributes checked.

    ``extra_urns`` are schema URNs a client may send that carry nothing we keep.
    """
    doc = _block(kind.core, {k: v for k, v in body.items() if not k.startswith("urn:")},
                 kind.name, strict=False)
    for key, value in body.items():
        if not key.startswith("urn:") and not key.startswith("http"):
            continue
        ext = kind.extension(key)
        if ext is None:
            if key.lower() in extra_urns or key.lower() == kind.core.urn.lower():
                continue
            raise InvalidValue(f"unknown schema extension {key}")
        if value is None:
            continue
        if not isinstance(value, dict):
            raise InvalidValue(f"{key} must be a JSON object")
        block = _block(ext, value, ext.urn, strict=True)
        if block:
            doc[ext.urn] = block
    check_required(kind, doc)
    return doc


def check_required(kind: ResourceKind, doc: dict[str, Any]) -> None:
    for attr in kind.core.attrs:
        if attr.required and attr.name not in doc:
            raise InvalidValue(f"{attr.name} is required")
    for ext in kind.extensions:
        block = doc.get(ext.schema.urn)
        if block is None:
            if ext.required:
                raise InvalidValue(f"the {ext.schema.urn} extension is required")
            continue
        for attr in ext.schema.attrs:
            if attr.required and attr.name not in block:
                raise InvalidValue(f"{ext.schema.urn}:{attr.name} is required")


def check_immutable(kind: ResourceKind, old: dict[str, Any], new: dict[str, Any]) -> None:
    """RFC 7643 section 2.2: an immutable value, once set, may not change (400 mutability)."""
    pairs: list[tuple[SchemaDef, dict[str, Any], dict[str, Any]]] = [(kind.core, old, new)]
    for ext in kind.extensions:
        pairs.append((ext.schema, old.get(ext.schema.urn) or {}, new.get(ext.schema.urn) or {}))
    for schema, before, after in pairs:
        for attr in schema.attrs:
            if attr.mutability != "immutable" or attr.name not in before:
                continue
            if after.get(attr.name) != before[attr.name]:
                raise Mutability(f"{attr.name} is immutable and already set")


def declared_schemas(body: dict[str, Any], core_urn: str) -> None:
    declared = body.get("schemas")
    if not isinstance(declared, list) or core_urn.lower() not in {
        str(s).lower() for s in declared
    }:
        raise InvalidValue(f"schemas must include {core_urn}")
