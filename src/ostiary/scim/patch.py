"""PATCH (RFC 7644 section 3.5.2) applied in memory to one resource's canonical document.

Every operation works on a copy; the caller validates the result and writes it in one
transaction, so a request whose third operation fails changes nothing.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass
from typing import Any

from ostiary.scim import schemas
from ostiary.scim.attributes import Attr
from ostiary.scim.errors import InvalidSyntax, InvalidValue, Mutability, NoTarget
from ostiary.scim.paths import Path, parse_path, value_filter
from ostiary.scim.registry import ResourceKind

OPS = {"add", "replace", "remove"}


@dataclass(frozen=True)
class Operation:
    op: str  # lower case: Entra sends "Replace", "Add", "Remove"
    path: str | None
    value: Any


def parse_operations(body: Any) -> list[Operation]:
    if not isinstance(body, dict):
        raise InvalidSyntax("the request body must be a JSON object")
    declared = body.get("schemas")
    if not isinstance(declared, list) or schemas.PATCH_OP not in declared:
        raise InvalidValue(f"schemas must include {schemas.PATCH_OP}")
    raw_ops = body.get("Operations", body.get("operations"))
    if not isinstance(raw_ops, list) or not raw_ops:
        raise InvalidValue("Operations must be a non-empty list")
    out = []
    for raw in raw_ops:
        if not isinstance(raw, dict):
            raise InvalidSyntax("each operation must be a JSON object")
        op = str(raw.get("op", "")).lower()
        if op not in OPS:
            raise InvalidSyntax(f"unknown op {raw.get('op')!r}: use add, replace or remove")
        path = raw.get("path")
        if path is not None and not isinstance(path, str):
            raise InvalidSyntax("path must be a string")
        if op != "remove" and "value" not in raw:
            raise InvalidValue(f"{op} needs a value")
        out.append(Operation(op, path or None, raw.get("value")))
    return out


@dataclass(frozen=True)
class Target:
    container: str | None  # extension URN holding the attribute, None for the core schema
    attr: Attr


def resolve(kind: ResourceKind, path: Path) -> Target:
    if path.attr is None:
        raise NoTarget("a whole extension block is not an attribute")
    if path.urn is not None and path.urn != kind.core.urn:
        ext = kind.extension(path.urn)
        found = ext.attr(path.attr) if ext else None
        if ext is None or found is None:
            raise NoTarget(f"no attribute {path.attr} in {path.urn}")
        return Target(ext.urn, found)
    core = kind.core.attr(path.attr)
    if core is not None:
        return Target(None, core)
    # Clients (Entra) name extension attributes unqualified ("manager").
    for extension in kind.extensions:
        found = extension.schema.attr(path.attr)
        if found is not None:
            return Target(extension.schema.urn, found)
    raise NoTarget(f"no attribute {path.attr!r} on {kind.name}")


def _is_true(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _merge(old: Any, new: Any) -> Any:
    if isinstance(old, dict) and isinstance(new, dict):
        return {**old, **new}
    return new


class Patcher:
    def __init__(self, kind: ResourceKind, doc: dict[str, Any]) -> None:
        self.kind = kind
        self.doc = copy.deepcopy(doc)
        self.urns = [kind.core.urn] + [e.schema.urn for e in kind.extensions]

    def apply(self, ops: list[Operation]) -> dict[str, Any]:
        for op in ops:
            if op.path is None:
                self._no_path(op)
            else:
                self._with_path(op.op, parse_path(op.path, self.urns), op.value)
        return self.doc

    def _no_path(self, op: Operation) -> None:
        if op.op == "remove":
            raise NoTarget("remove needs a path")
        if not isinstance(op.value, dict):
            raise InvalidValue(f"{op.op} without a path needs an object of attributes")
        for key, value in op.value.items():
            if key.lower() in {"schemas", "id", "meta"}:
                continue
            ext = self.kind.extension(key)
            if ext is not None and isinstance(value, dict):
                for sub_key, sub_value in value.items():
                    self._with_path(op.op, Path(ext.urn, sub_key), sub_value)
                continue
            # Entra's dotted keys: "name.givenName", "urn:...:User:employeeNumber".
            path = parse_path(key, self.urns)
            target = resolve(self.kind, path)
            if target.attr.mutability == "readOnly":
                continue  # Okta echoes read-only attributes; they are ignored, not errors
            self._with_path(op.op, path, value)

    def _holder(self, target: Target, create: bool) -> dict[str, Any] | None:
        if target.container is None:
            return self.doc
        block = self.doc.get(target.container)
        if block is None and create:
            block = self.doc[target.container] = {}
        return block if isinstance(block, dict) else None

    def _with_path(self, op: str, path: Path, value: Any) -> None:
        if path.attr is None:  # the extension block itself
            self._block(op, path, value)
            return
        target = resolve(self.kind, path)
        attr = target.attr
        if attr.mutability == "readOnly":
            raise Mutability(f"{attr.name} is read-only")
        holder = self._holder(target, create=op != "remove")
        if holder is None:
            if op == "remove":
                return
            raise NoTarget(f"no {target.container} block")
        if path.value_filter is not None:
            self._filtered(op, holder, attr, path, value)
        elif path.sub is not None:
            self._sub(op, holder, attr, path.sub, value)
        elif op == "remove":
            self._remove(holder, attr, value)
        elif attr.multi:
            self._multi(op, holder, attr, value)
        elif attr.type == "complex" and isinstance(value, dict):
            holder[attr.name] = _merge(holder.get(attr.name), value)
        else:
            holder[attr.name] = value
        if target.container and not holder:
            self.doc.pop(target.container, None)

    def _block(self, op: str, path: Path, value: Any) -> None:
        assert path.urn is not None
        if op == "remove":
            self.doc.pop(path.urn, None)
            return
        if not isinstance(value, dict):
            raise InvalidValue(f"{path.urn} needs an object of attributes")
        for key, sub_value in value.items():
            if key.lower() != "schemas":
                self._with_path(op, Path(path.urn, key), sub_value)

    def _multi(self, op: str, holder: dict[str, Any], attr: Attr, value: Any) -> None:
        new = [v for v in _as_list(value) if v is not None]
        if op == "replace":
            holder[attr.name] = new
            return
        existing = list(holder.get(attr.name) or [])
        if any(isinstance(v, dict) and _is_true(v.get("primary")) for v in new):
            # Section 3.5.2.1: a new primary value demotes the old one.
            existing = [{**v, "primary": False} if isinstance(v, dict) else v for v in existing]
        holder[attr.name] = existing + [v for v in new if v not in existing]

    def _sub(self, op: str, holder: dict[str, Any], attr: Attr, sub_name: str, value: Any) -> None:
        sub = attr.child(sub_name)
        if sub is None or attr.type != "complex":
            raise NoTarget(f"{attr.name} has no sub-attribute {sub_name!r}")
        if sub.mutability == "readOnly":
            raise Mutability(f"{attr.name}.{sub.name} is read-only")
        if attr.multi:  # no filter: every value of the attribute
            for item in holder.get(attr.name) or []:
                self._set_sub(op, item, sub.name, value)
            return
        current = holder.get(attr.name)
        if current is None:
            if op == "remove":
                return
            current = holder[attr.name] = {}
        self._set_sub(op, current, sub.name, value)
        if not current:
            holder.pop(attr.name, None)

    @staticmethod
    def _set_sub(op: str, item: dict[str, Any], name: str, value: Any) -> None:
        if op == "remove" or value is None:
            item.pop(name, None)
        else:
            item[name] = value

    def _remove(self, holder: dict[str, Any], attr: Attr, value: Any) -> None:
        if attr.required:
            raise Mutability(f"{attr.name} is required and cannot be removed")
        if attr.mutability == "immutable" and attr.name in holder:
            raise Mutability(f"{attr.name} is immutable")
        if attr.multi and value is not None:
            # Entra: remove path "members" with a value list removes just those values.
            gone = {_removal_key(attr, v) for v in _as_list(value)}
            kept = [
                v
                for v in holder.get(attr.name) or []
                if (v.get("value") if isinstance(v, dict) else v) not in gone
            ]
            holder[attr.name] = kept
            if not kept:
                holder.pop(attr.name)
            return
        holder.pop(attr.name, None)

    def _filtered(
        self, op: str, holder: dict[str, Any], attr: Attr, path: Path, value: Any
    ) -> None:
        if not attr.multi:
            raise NoTarget(f"{attr.name} is not multi-valued")
        sub_name = None
        if path.sub is not None:
            sub = attr.child(path.sub) if attr.type == "complex" else None
            if sub is None:
                raise NoTarget(f"{attr.name} has no sub-attribute {path.sub!r}")
            if sub.mutability == "readOnly":
                raise Mutability(f"{attr.name}.{sub.name} is read-only")
            sub_name = sub.name  # the schema's spelling: names are case-insensitive
        assert path.value_filter is not None
        matches = value_filter(path.value_filter, attr)
        items = list(holder.get(attr.name) or [])
        as_dict = [v if isinstance(v, dict) else {"value": v} for v in items]
        hit = [i for i, v in enumerate(as_dict) if matches(v)]
        if op == "remove":
            if sub_name is None:
                holder[attr.name] = [v for i, v in enumerate(items) if i not in hit]
            else:
                for i in hit:
                    items[i].pop(sub_name, None)
            if not holder.get(attr.name):
                holder.pop(attr.name, None)
            return
        if not hit:
            # Entra: Replace emails[type eq "work"].value on a user without a work email.
            seed = equality_seed(path.value_filter)
            if seed is None:
                raise NoTarget(f"no value of {attr.name} matches [{path.value_filter}]")
            new = {**seed, sub_name: value} if sub_name else _merge(seed, value)
            holder[attr.name] = [*items, new]
            return
        for i in hit:
            if sub_name is not None:
                items[i][sub_name] = value
            else:
                items[i] = value if op == "replace" else _merge(items[i], value)
        holder[attr.name] = items


_EQ = re.compile(r'^\s*([A-Za-z][\w$]*)\s+eq\s+("(?:[^"\\]|\\.)*"|true|false|-?\d+)\s*$', re.I)


def equality_seed(text: str) -> dict[str, Any] | None:
    """``type eq "work" and primary eq true`` -> {"type": "work", "primary": True}; else None."""
    out: dict[str, Any] = {}
    for clause in re.split(r"\s+and\s+", text.strip(), flags=re.I):
        m = _EQ.match(clause)
        if m is None:
            return None
        out[m.group(1)] = json.loads(m.group(2).lower() if m.group(2)[0] != '"' else m.group(2))
    return out


def _removal_key(attr: Attr, item: Any) -> Any:
    """The value a ``remove`` with a value list names: the item, or its ``value``. Only a
    plain value can name one (RFC 7644 s3.5.2.2): a list or an object there is a 400,
    not something to compare (and not hashable)."""
    key = item.get("value") if isinstance(item, dict) else item
    if key is not None and not isinstance(key, str | int | float | bool):
        raise InvalidValue(f"remove from {attr.name}: each value must name one item")
    return key
