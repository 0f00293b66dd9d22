"""Evaluate a bound filter over a rendered SCIM resource (a dict), in memory.

The same semantics as the database translator (``ostiary.store.scim_query``), leaf for
leaf, so a test can compare the two on random filters; PATCH value paths can use it to
pick the elements of a multi-valued attribute.

The rules (RFC 7644 section 3.4.2.2):
- caseExact false strings compare case-insensitively (casefold);
- ``eq``/``gt``/``co``... need the attribute to have a value; ``ne`` is ``not eq``, so an
  unassigned attribute is "not equal";
- ``pr``: a value that is not null and not the empty string;
- a multi-valued attribute matches when some element matches (``AnyOf``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ostiary.scim.filter import And, AnyOf, Cmp, Const, Neg, Node, Or, Pr
from ostiary.scim.filter_schema import BOOLEAN, DATETIME, NUMBERS, AttrDef


def lookup(doc: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path``; attribute names (and URNs) match case-insensitively."""
    for name in path:
        if not isinstance(doc, Mapping):
            return None
        if name in doc:
            doc = doc[name]
            continue
        folded = name.casefold()
        doc = next((v for k, v in doc.items() if k.casefold() == folded), None)
    return doc


def matches(node: Node, doc: Mapping[str, Any]) -> bool:
    if isinstance(node, And):
        return all(matches(t, doc) for t in node.terms)
    if isinstance(node, Or):
        return any(matches(t, doc) for t in node.terms)
    if isinstance(node, Neg):
        return not matches(node.term, doc)
    if isinstance(node, Const):
        return node.value
    if isinstance(node, Pr):
        return present(node.ref.attr, lookup(doc, node.ref.path))
    if isinstance(node, Cmp):
        return compare(node.ref.attr, node.op, lookup(doc, node.ref.path), node.value)
    return _any_of(node, doc)


def _any_of(node: AnyOf, doc: Mapping[str, Any]) -> bool:
    elements = lookup(doc, node.ref.path)
    if not isinstance(elements, list):
        return False
    items = [e for e in elements if isinstance(e, Mapping) and e]
    if node.cond is None:
        return bool(items)
    return any(matches(node.cond, e) for e in items)


def present(attr: AttrDef, value: Any) -> bool:
    """Non-null and, for a string, non-empty; a value of the wrong JSON type is absent
    (the database reads a string attribute only where the JSON holds a string)."""
    if attr.type == BOOLEAN:
        return isinstance(value, bool)
    if attr.type == DATETIME:
        return _as_datetime(value) is not None
    if attr.type in NUMBERS:
        return _is_number(value)
    return isinstance(value, str) and value != ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _fold(attr: AttrDef, value: str) -> str:
    return value if attr.case_exact else value.casefold()


def compare(attr: AttrDef, op: str, actual: Any, expected: Any) -> bool:
    if op == "ne":
        return not compare(attr, "eq", actual, expected)
    if attr.type == BOOLEAN:
        return isinstance(actual, bool) and actual == expected
    if attr.type == DATETIME:
        when = _as_datetime(actual)
        return when is not None and _order(op, when, expected)
    if attr.type in NUMBERS:
        return _is_number(actual) and _order(op, actual, expected)
    if not isinstance(actual, str):
        return False
    left, right = _fold(attr, actual), _fold(attr, expected)
    if op == "co":
        return right in left
    if op == "sw":
        return left.startswith(right)
    if op == "ew":
        return left.endswith(right)
    return _order(op, left, right)


def _order(op: str, left: Any, right: Any) -> bool:
    if op == "eq":
        return bool(left == right)
    if op == "gt":
        return bool(left > right)
    if op == "ge":
        return bool(left >= right)
    if op == "lt":
        return bool(left < right)
    if op == "le":
        return bool(left <= right)
    raise ValueError(f"unknown operator {op}")


def _as_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
