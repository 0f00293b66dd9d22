"""SCIM filters (RFC 7644 section 3.4.2.2): parse, then bind to the attribute catalogue.

Parsing is scim2-models' (``ScimFilter(text).ast``, the grammar with the RFC errata
applied; see docs/decisions/0001-scim-filter-parser.md). Binding is ours: every attribute
path is resolved against :mod:`ostiary.scim.filter_schema`, every operator is checked
against the attribute's type and every value is coerced, so the tree the database
translator and the in-memory evaluator walk is already known to be meaningful. Whatever
cannot be bound is a 400 ``invalidFilter``; nothing is dropped.

The bound tree has six node kinds. ``AnyOf`` carries the one rule for multi-valued
attributes: ``emails.value co "x"``, ``emails co "x"`` and ``emails[value co "x"]`` all
mean "some element of emails satisfies the condition", and a condition inside ``AnyOf``
names sub-attributes relative to the element.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from scim2_models.exceptions import InvalidFilterException
from scim2_models.path import (
    AttrPath,
    Comparison,
    FilterNode,
    LogicalExpr,
    LogicalOperator,
    Not,
    Present,
    ScimFilter,
    ValuePath,
)

from ostiary.scim.errors import InvalidFilter
from ostiary.scim.filter_schema import (
    BINARY,
    BOOLEAN,
    COMPLEX,
    DATETIME,
    REFERENCE,
    STRING,
    AttrDef,
    ResourceSchema,
)

MAX_FILTER_LENGTH = 4096
ORDERING = frozenset({"gt", "ge", "lt", "le"})
SUBSTRING = frozenset({"co", "sw", "ew"})


@dataclass(frozen=True)
class Ref:
    """A resolved attribute: its canonical path and definition.

    ``path`` is absolute for top-level nodes (``("name", "givenName")``, or
    ``(ENTERPRISE_URN, "manager", "value")``) and relative to the element inside an
    :class:`AnyOf` (``("type",)``).
    """

    path: tuple[str, ...]
    attr: AttrDef

    @property
    def label(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True)
class Cmp:
    ref: Ref
    op: str  # eq ne co sw ew gt ge lt le
    value: Any  # str, bool or an aware UTC datetime (coerced to the attribute's type)


@dataclass(frozen=True)
class Pr:
    ref: Ref


@dataclass(frozen=True)
class AnyOf:
    ref: Ref  # a multi-valued complex attribute
    cond: Node | None  # None: the attribute has at least one element


@dataclass(frozen=True)
class And:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    terms: tuple[Node, ...]


@dataclass(frozen=True)
class Neg:
    term: Node


@dataclass(frozen=True)
class Const:
    """A clause decided while binding (an attribute another resource type lacks, in a
    root search: RFC 7644 section 3.4.2.1 has it evaluate to false there)."""

    value: bool


Node = Cmp | Pr | AnyOf | And | Or | Neg | Const


def parse(text: str) -> FilterNode:
    """The scim2-models syntax tree of ``text``; a syntax error is a 400 invalidFilter."""
    if len(text) > MAX_FILTER_LENGTH:
        raise InvalidFilter(f"the filter is longer than {MAX_FILTER_LENGTH} characters")
    try:
        return ScimFilter(text).ast
    except InvalidFilterException as exc:
        raise InvalidFilter(f"invalid filter: {exc.detail}") from None


def bind(text: str, schema: ResourceSchema, *, unknown_is_false: bool = False) -> Node:
    """Parse ``text`` and bind it to ``schema``.

    ``unknown_is_false`` is for the root search endpoint, which evaluates one filter
    against every resource type: there an attribute the type lacks is false, not an error.
    """
    fast = _simple_eq(text, schema, unknown_is_false)
    if fast is not None:
        return fast
    return _Binder(schema, unknown_is_false).node(parse(text))


# `attr eq "value"` with a plain string value (no escapes, no control characters): the
# shape of almost every provisioning lookup. Its bound tree is the template's (bound once
# per attribute through the full parser) with the value put in, which skips the parser.
_SIMPLE_EQ = re.compile(r'([A-Za-z][A-Za-z0-9_-]*) eq "([^"\\\x00-\x1f]*)"')
_TEMPLATES: dict[tuple[int, str, bool], tuple[ResourceSchema, Cmp]] = {}
_PLAIN = frozenset({STRING, REFERENCE})


def is_simple_eq(text: str) -> bool:
    """Is ``text`` the plain ``attr eq "value"`` shape (no escapes, nothing else)?"""
    return _SIMPLE_EQ.fullmatch(text) is not None


def _simple_eq(text: str, schema: ResourceSchema, unknown_is_false: bool) -> Cmp | None:
    match = _SIMPLE_EQ.fullmatch(text)
    if match is None:
        return None
    attr, value = match.groups()
    key = (id(schema), attr, unknown_is_false)
    cached = _TEMPLATES.get(key)
    if cached is None or cached[0] is not schema:
        try:
            template = _Binder(schema, unknown_is_false).node(parse(f'{attr} eq "x"'))
        except InvalidFilter:
            return None  # the full path raises the same error for the real text
        if not (isinstance(template, Cmp) and template.ref.attr.type in _PLAIN):
            return None
        cached = _TEMPLATES[key] = (schema, template)
    return Cmp(cached[1].ref, "eq", value)


class UnknownAttribute(InvalidFilter):
    pass


def _parse_datetime(value: Any, label: str) -> datetime:
    if not isinstance(value, str):
        raise InvalidFilter(f"{label} is a dateTime: compare it with a quoted xsd:dateTime")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidFilter(f"{value!r} is not a dateTime (RFC 7643 section 2.3.5)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def coerce(attr: AttrDef, op: str, value: Any, label: str) -> Any:
    """Check ``op`` applies to ``attr``'s type and return ``value`` in that type."""
    if attr.type == COMPLEX:
        raise InvalidFilter(f"{label} is complex: compare one of its sub-attributes")
    if value is None:
        raise InvalidFilter(f"{label} {op} null: use 'pr' or 'not ({label} pr)'")
    if attr.type == BOOLEAN:
        if op not in {"eq", "ne"}:
            raise InvalidFilter(f"'{op}' does not apply to the boolean {label}")
        if not isinstance(value, bool):
            raise InvalidFilter(f"{label} is a boolean: compare it with true or false")
        return value
    if attr.type == DATETIME:
        if op in SUBSTRING:
            raise InvalidFilter(f"'{op}' does not apply to the dateTime {label}")
        return _parse_datetime(value, label)
    if attr.type == BINARY and op not in {"eq", "ne"}:
        raise InvalidFilter(f"'{op}' does not apply to the binary {label}")
    if not isinstance(value, str):
        raise InvalidFilter(f"{label} is a string: compare it with a quoted string")
    return value


def resolve_top(schema: ResourceSchema, path: AttrPath) -> tuple[Ref, AttrDef | None]:
    """(the top-level attribute, its named sub-attribute or None) of an attribute path."""
    found = schema.schema_for(path.uri)
    if found is None:
        raise UnknownAttribute(f"unknown schema {path.uri!r} for {schema.name}")
    ext_urn, attrs = found
    top = attrs.get(path.attr.lower())
    if top is None:
        raise UnknownAttribute(f"unknown attribute {path!s} for {schema.name}")
    prefix = (ext_urn,) if ext_urn else ()
    ref = Ref((*prefix, top.name), top)
    if path.sub_attr is None:
        return ref, None
    sub = top.child(path.sub_attr)
    if sub is None:
        raise UnknownAttribute(f"unknown attribute {path!s} for {schema.name}")
    return ref, sub


def split_attr_path(text: str) -> AttrPath:
    """An ``attrPath`` from a sortBy or attributes parameter (no filter around it)."""
    text = text.strip()
    uri = None
    rest = text
    if text.lower().startswith("urn:"):
        uri, _, rest = text.rpartition(":")
    attr, _, sub = rest.partition(".")
    try:
        return AttrPath(attr=attr, sub_attr=sub or None, uri=uri)
    except ValueError as exc:
        raise UnknownAttribute(f"{text!r} is not an attribute path: {exc}") from None


class _Binder:
    def __init__(self, schema: ResourceSchema, unknown_is_false: bool) -> None:
        self.schema = schema
        self.unknown_is_false = unknown_is_false

    def node(self, node: FilterNode) -> Node:
        try:
            return self._node(node)
        except UnknownAttribute:
            if self.unknown_is_false:
                return Const(False)
            raise

    def _node(self, node: FilterNode) -> Node:
        if isinstance(node, LogicalExpr):
            terms = tuple(self.node(t) for t in node.terms)
            return And(terms) if node.op == LogicalOperator.and_ else Or(terms)
        if isinstance(node, Not):
            return Neg(self.node(node.expr))
        if isinstance(node, Comparison):
            return self._leaf(node.attr_path, node.op.value, node.value)
        if isinstance(node, Present):
            return self._leaf(node.attr_path, "pr", None)
        if isinstance(node, ValuePath):
            return self._value_path(node)
        raise InvalidFilter(f"unsupported filter expression {node!s}")

    def _leaf(self, path: AttrPath, op: str, value: Any) -> Node:
        ref, sub = resolve_top(self.schema, path)
        top = ref.attr
        if top.multi:
            if sub is None and op == "pr":
                return AnyOf(ref, None)
            # RFC 7644 section 3.4.2.2: a multi-valued attribute compared without a
            # sub-attribute compares its "value".
            sub = sub or top.child("value")
            if sub is None:
                raise InvalidFilter(f"{ref.label} has no 'value' sub-attribute to compare")
            return AnyOf(ref, _simple(Ref((sub.name,), sub), op, value))
        if sub is not None:
            return _simple(Ref((*ref.path, sub.name), sub), op, value)
        if top.type == COMPLEX and op == "pr":
            return Or(tuple(Pr(Ref((*ref.path, s.name), s)) for s in top.sub.values()))
        return _simple(ref, op, value)

    def _value_path(self, node: ValuePath) -> Node:
        ref, sub = resolve_top(self.schema, node.attr_path)
        if not ref.attr.multi or sub is not None:
            raise InvalidFilter(f"{node.attr_path!s}[...] needs a multi-valued attribute")
        return AnyOf(ref, _element(ref.attr, node.val_filter))


def _simple(ref: Ref, op: str, value: Any) -> Node:
    if ref.attr.returned == "never":
        # A filter on password would be an oracle for it (RFC 7643 section 4.1.1).
        raise InvalidFilter(f"{ref.label} cannot be filtered on")
    if op == "pr":
        if ref.attr.type == COMPLEX:
            raise InvalidFilter(f"{ref.label} is complex")
        return Pr(ref)
    return Cmp(ref, op, coerce(ref.attr, op, value, ref.label))


def _element(parent: AttrDef, node: FilterNode) -> Node:
    """Bind the filter between brackets: names are sub-attributes of ``parent``."""
    if isinstance(node, LogicalExpr):
        terms = tuple(_element(parent, t) for t in node.terms)
        return And(terms) if node.op == LogicalOperator.and_ else Or(terms)
    if isinstance(node, Not):
        return Neg(_element(parent, node.expr))
    if isinstance(node, Comparison | Present):
        path = node.attr_path
        sub = parent.child(path.attr) if path.uri is None and path.sub_attr is None else None
        if sub is None:
            raise UnknownAttribute(f"{parent.name} has no sub-attribute {path!s}")
        op = node.op.value if isinstance(node, Comparison) else "pr"
        return _simple(Ref((sub.name,), sub), op, getattr(node, "value", None))
    raise InvalidFilter(f"{node!s} cannot appear inside a value filter")


def walk_refs(node: Node) -> list[Ref]:
    """Every attribute a bound filter names (tests and diagnostics)."""
    if isinstance(node, Cmp | Pr):
        return [node.ref]
    if isinstance(node, AnyOf):
        return [node.ref, *(walk_refs(node.cond) if node.cond else [])]
    if isinstance(node, And | Or):
        return [r for t in node.terms for r in walk_refs(t)]
    if isinstance(node, Neg):
        return walk_refs(node.term)
    return []


def sort_ref(schema: ResourceSchema, text: str) -> Ref:
    """The attribute ``sortBy`` names (RFC 7644 section 3.4.2.3).

    A multi-valued attribute sorts by its primary (else first) ``value``; a complex one
    needs a sub-attribute. An unknown one is a 400 invalidValue, not a silent default.
    """
    from ostiary.scim.errors import InvalidValue

    try:
        ref, sub = resolve_top(schema, split_attr_path(text))
    except UnknownAttribute as exc:
        raise InvalidValue(f"sortBy: {exc.detail}") from None
    if ref.attr.multi:
        if sub is not None and sub.name != "value":
            raise InvalidValue(f"sortBy {text!r}: sort by {ref.label}.value")
        return ref
    if sub is not None:
        return Ref((*ref.path, sub.name), sub)
    if ref.attr.type == COMPLEX:
        raise InvalidValue(f"sortBy {text!r} is complex: name a sub-attribute")
    if ref.attr.returned == "never":
        raise InvalidValue(f"sortBy {text!r} cannot be sorted on")
    return ref


def bind_value_path(schema: ResourceSchema, node: ValuePath) -> AnyOf:
    """Bind a PATCH value path (``emails[type eq "work"]``, from scim2-models'
    ``Path``/``ValuePath``): the multi-valued attribute and the element condition, so a
    caller picks elements with ``filter_eval.matches(bound.cond, element)``."""
    bound = _Binder(schema, unknown_is_false=False)._value_path(node)
    if not isinstance(bound, AnyOf):
        raise InvalidFilter(f"{node!s} is not a value path")
    return bound
