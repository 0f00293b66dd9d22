"""PATCH paths and the value filters inside them (RFC 7644 sections 3.5.2 and 3.4.2.2).

A PATCH value filter is evaluated in memory against the values of one multi-valued
attribute of one resource, so a tiny parser and evaluator suffice here; filters that
select resources in the database are a different component.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ostiary.scim.attributes import Attr
from ostiary.scim.errors import InvalidFilter, InvalidPath

MAX_FILTER = 2048  # a PATCH value filter longer than this is not a real client's
MAX_DEPTH = 32  # parentheses nesting; deeper would only exhaust the stack
COMPARE_OPS = {"eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le"}

Predicate = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Path:
    urn: str | None  # extension URN, or None for the core schema
    attr: str | None  # None: the path names a whole extension block
    value_filter: str | None = None
    sub: str | None = None


def parse_path(raw: str, known_urns: list[str]) -> Path:
    text = raw.strip()
    if not text:
        raise InvalidPath("the path is empty")
    for block_urn in known_urns:
        if text.lower() == block_urn.lower():
            return Path(block_urn, None)
    head = text
    flt: str | None = None
    tail: str | None = None
    if "[" in text:
        if not text.endswith("]") and "]." not in text:
            raise InvalidPath(f"unbalanced value filter in {raw!r}")
        head, rest = text.split("[", 1)
        flt, _, after = rest.rpartition("]")
        if after and not after.startswith("."):
            raise InvalidPath(f"unexpected text after the value filter in {raw!r}")
        tail = after[1:] or None
    urn: str | None = None
    for known in known_urns:
        if head.lower().startswith(known.lower() + ":"):
            urn, head = known, head[len(known) + 1 :]
            break
    else:
        if head.lower().startswith("urn:"):
            raise InvalidPath(f"unknown schema in path {raw!r}")
    parts = head.split(".")
    if len(parts) > 2 or not all(re.fullmatch(r"\$?[A-Za-z][\w$-]*", p) for p in parts):
        raise InvalidPath(f"invalid attribute path {raw!r}")
    if len(parts) == 2:
        if flt is not None:
            raise InvalidPath(f"a value filter applies to a multi-valued attribute: {raw!r}")
        return Path(urn, parts[0], None, parts[1])
    if tail is not None and not re.fullmatch(r"\$?[A-Za-z][\w$-]*", tail):
        raise InvalidPath(f"invalid sub-attribute in {raw!r}")
    if flt is not None and not flt.strip():
        raise InvalidFilter(f"empty value filter in {raw!r}")
    return Path(urn, parts[0], flt, tail)


_TOKEN = re.compile(
    r'\s*(?:(?P<lp>\()|(?P<rp>\))|(?P<str>"(?:[^"\\]|\\.)*")'
    r"|(?P<word>[A-Za-z0-9_$:.+\-]+))"
)


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise InvalidFilter(f"cannot parse the filter at {text[pos:pos + 20]!r}")
        out.append(m.group(m.lastgroup or "word"))
        pos = m.end()
    return out


def _either(a: Predicate, b: Predicate) -> Predicate:
    return lambda v: a(v) or b(v)


def _both(a: Predicate, b: Predicate) -> Predicate:
    return lambda v: a(v) and b(v)


class _Parser:
    def __init__(self, text: str, attr: Attr) -> None:
        if len(text) > MAX_FILTER:
            raise InvalidFilter(f"the value filter is longer than {MAX_FILTER} characters")
        self.toks = _tokens(text)
        self.i = 0
        self.depth = 0
        self.attr = attr

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> str:
        tok = self.peek()
        if tok is None:
            raise InvalidFilter("the filter ends too early")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise InvalidFilter(f"unexpected {self.peek()!r} in the filter")
        return pred

    def or_expr(self) -> Predicate:
        left = self.and_expr()
        while (self.peek() or "").lower() == "or":
            self.take()
            left = _either(left, self.and_expr())
        return left

    def and_expr(self) -> Predicate:
        left = self.unary()
        while (self.peek() or "").lower() == "and":
            self.take()
            left = _both(left, self.unary())
        return left

    def unary(self) -> Predicate:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidFilter("the value filter nests too deeply")
        try:
            return self._unary()
        finally:
            self.depth -= 1

    def _unary(self) -> Predicate:
        tok = self.take()
        if tok.lower() == "not":
            if self.take() != "(":
                raise InvalidFilter("'not' must be followed by '('")
            inner = self.or_expr()
            self._close()
            return lambda v: not inner(v)
        if tok == "(":
            inner = self.or_expr()
            self._close()
            return inner
        return self.comparison(tok)

    def _close(self) -> None:
        if self.take() != ")":
            raise InvalidFilter("missing ')' in the filter")

    def comparison(self, name: str) -> Predicate:
        sub = self.attr.child(name) if self.attr.sub else None
        if sub is None and not (not self.attr.sub and name.lower() == "value"):
            raise InvalidFilter(f"{self.attr.name} has no sub-attribute {name!r}")
        key = sub.name if sub else "value"
        case_exact = sub.case_exact if sub else self.attr.case_exact
        op = self.take().lower()
        if op == "pr":
            return lambda v: v.get(key) not in (None, "", [], {})
        if op not in COMPARE_OPS:
            raise InvalidFilter(f"unknown operator {op!r}")
        literal = _literal(self.take())
        return lambda v: compare(v.get(key), op, literal, case_exact)


def _literal(tok: str) -> Any:
    low = tok.lower()
    if low in {"true", "false"}:
        return low == "true"
    if low == "null":
        return None
    try:
        return json.loads(tok)
    except json.JSONDecodeError:
        raise InvalidFilter(f"invalid comparison value {tok!r}") from None


def compare(actual: Any, op: str, expected: Any, case_exact: bool) -> bool:
    """One attribute comparison with the RFC's case rule (caseExact false: ignore case)."""
    if isinstance(actual, str) and isinstance(expected, str) and not case_exact:
        actual, expected = actual.casefold(), expected.casefold()
    if op == "eq":
        return bool(actual == expected)
    if op == "ne":
        return bool(actual != expected)
    if actual is None or expected is None:
        return False
    if op in {"co", "sw", "ew"}:
        if not (isinstance(actual, str) and isinstance(expected, str)):
            return False
        if op == "co":
            return expected in actual
        return actual.startswith(expected) if op == "sw" else actual.endswith(expected)
    numbers = isinstance(actual, int | float) and isinstance(expected, int | float)
    if isinstance(actual, bool) or isinstance(expected, bool):
        return False
    if type(actual) is not type(expected) and not numbers:
        return False
    try:
        return bool({"gt": actual > expected, "ge": actual >= expected,
                "lt": actual < expected, "le": actual <= expected}[op])
    except TypeError:
        return False


def value_filter(text: str, attr: Attr) -> Predicate:
    """A predicate over one value of the multi-valued attribute ``attr``."""
    return _Parser(text, attr).parse()
