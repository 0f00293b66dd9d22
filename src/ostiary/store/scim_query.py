"""Bound SCIM filter (``ostiary.scim.filter``) -> a parameterised SQLAlchemy Core clause.

Every value travels as a bound parameter. Attributes with a column use it (userName
through its casefolded unique key, so ``eq`` is an index lookup); multi-valued ones are
``EXISTS`` over their rows (emails, group memberships); the rest of the representation
is read from the JSON document with expressions both engines understand. An attribute
or operator that cannot be mapped raises ``InvalidFilter``; no clause is ever dropped.

Each leaf is two-valued (never SQL NULL), so ``NOT`` means "not matched", exactly as in
the in-memory evaluator (``ostiary.scim.filter_eval``) that tests compare this with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Numeric,
    Select,
    Table,
    and_,
    case,
    cast,
    column,
    exists,
    false,
    func,
    literal,
    not_,
    null,
    or_,
    select,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB

from ostiary.scim.errors import InvalidFilter
from ostiary.scim.filter import And, AnyOf, Cmp, Const, Neg, Node, Or, Pr, Ref, walk_refs
from ostiary.scim.filter_schema import BOOLEAN, DATETIME, NUMBERS, AttrDef
from ostiary.store import local_suffix
from ostiary.store.local_suffix import Ids
from ostiary.store.substring import address_head, like_escape, next_prefix
from ostiary.store.tables import group_members, groups, user_emails, users
from ostiary.store.tables_scim_query import EMAIL_SEPARATOR, user_email_search, user_name_search

# How a target's stored form relates to the SCIM value.
EXACT = "exact"  # caseExact string, compared as stored
KEY = "key"  # a column holding str.casefold() of the value (userName, emails.value)
LOWER = "lower"  # a caseExact=false string column: compare lower() of both sides
BOOL = "bool"
TIME = "time"
JSON_BOOL = "json_bool"  # 'true'/'false' text, NULL unless the JSON holds a boolean
NUMBER = "number"  # a numeric SQL value, NULL unless the JSON holds a number


@dataclass(frozen=True)
class Target:
    expr: ColumnElement[Any]
    kind: str
    # An address-like column with a pg_trgm index (userName, emails.value): see _substring.
    address: bool = False
    # (id, key) of a narrow copy that PostgreSQL's co/ew search instead (see _narrow).
    narrow: tuple[Any, Any] | None = None


UserColumns = {
    ("id",): Target(users.c.id, EXACT),
    ("externalId",): Target(users.c.external_id, EXACT),
    ("userName",): Target(
        users.c.user_name_key,
        KEY,
        address=True,
        narrow=(user_name_search.c.id, user_name_search.c.user_name_key),
    ),
    ("displayName",): Target(users.c.display_name, LOWER),
    ("name", "givenName"): Target(users.c.given_name, LOWER),
    ("name", "familyName"): Target(users.c.family_name, LOWER),
    ("active",): Target(users.c.active, BOOL),
    ("meta", "created"): Target(users.c.created_at, TIME),
    ("meta", "lastModified"): Target(users.c.updated_at, TIME),
    ("meta", "resourceType"): Target(literal("User"), EXACT),
}
GroupColumns = {
    ("id",): Target(groups.c.id, EXACT),
    ("externalId",): Target(groups.c.external_id, EXACT),
    ("displayName",): Target(groups.c.display_name_key, KEY),
    ("meta", "created"): Target(groups.c.created_at, TIME),
    ("meta", "lastModified"): Target(groups.c.updated_at, TIME),
    ("meta", "resourceType"): Target(literal("Group"), EXACT),
}
# Declared attributes with no stored form a query could read (meta is computed).
UNMAPPED = {("meta", "location"), ("meta", "version")}


class Translator:
    """Builds WHERE clauses and sort keys for one resource type on one dialect."""

    def __init__(self, resource: str, dialect: str) -> None:
        if resource not in ("User", "Group"):
            raise ValueError(resource)
        self.resource = resource
        self.table: Table = users if resource == "User" else groups
        self.columns = UserColumns if resource == "User" else GroupColumns
        self.pg = dialect == "postgresql"

    # -- filters -----------------------------------------------------------------
    def where(self, node: Node) -> ColumnElement[bool]:
        return self._node(node, self.top_target)

    def _node(self, node: Node, target: Callable[[Ref], Target]) -> ColumnElement[bool]:
        if isinstance(node, And):
            return and_(*(self._node(t, target) for t in node.terms))
        if isinstance(node, Or):
            return or_(*(self._node(t, target) for t in node.terms))
        if isinstance(node, Neg):
            return not_(self._node(node.term, target))
        if isinstance(node, Const):
            return true() if node.value else false()
        if isinstance(node, Pr):
            return self._present(target(node.ref))
        if isinstance(node, Cmp):
            return self._compare(target(node.ref), node.op, node.value)
        if target != self.top_target:
            raise InvalidFilter("value filters cannot nest")
        return self._any_of(node)

    def top_target(self, ref: Ref) -> Target:
        found = self.columns.get(ref.path)
        if found is not None:
            return found
        if ref.path in UNMAPPED:
            raise InvalidFilter(f"{ref.label} cannot be filtered on")
        return self._json_target(self.table.c.doc, ref.path, ref.attr)

    def _json_target(self, doc: Any, path: tuple[str, ...], attr: AttrDef) -> Target:
        type_ = attr.type
        if type_ == DATETIME:
            # Stored as the client wrote it (any offset, any precision): text order is
            # not time order, and an instant comparison would need per-engine parsing.
            raise InvalidFilter(f"{'.'.join(path)} is not stored in a comparable form")
        if self.pg:
            node = doc[path] if len(path) > 1 else doc[path[0]]
            kind = func.jsonb_typeof(node)
            text = node.as_string()
        else:
            json_path = "$" + "".join(f'."{p}"' for p in path)
            kind = func.json_type(doc, json_path)
            text = func.json_extract(doc, json_path)
        if type_ == BOOLEAN:
            want = "boolean" if self.pg else None
            cond = kind == want if want else kind.in_(["true", "false"])
            value = text if self.pg else kind
            return Target(case((cond, value), else_=null()), JSON_BOOL)
        if type_ in NUMBERS:
            cond = kind == "number" if self.pg else kind.in_(["integer", "real"])
            number = cast(text, Numeric) if self.pg else text
            return Target(case((cond, number), else_=null()), NUMBER)
        want = "string" if self.pg else "text"
        return Target(case((kind == want, text), else_=null()), EXACT if attr.case_exact else LOWER)

    def _present(self, t: Target) -> ColumnElement[bool]:
        if t.kind in (BOOL, TIME, JSON_BOOL, NUMBER):
            return t.expr.isnot(None)
        return and_(t.expr.isnot(None), t.expr != "")

    def _compare(self, t: Target, op: str, value: Any) -> ColumnElement[bool]:
        if op == "ne":
            return not_(self._compare(t, "eq", value))
        narrow = self._narrow(t, op, value)
        if narrow is not None:
            return self.table.c.id.in_(narrow)
        expr, value = self.operands(t, value)
        if op in ("co", "sw", "ew"):
            cond = self._substring(expr, op, value, t.address)
        elif op == "eq":
            cond = expr == value
        else:
            if self.pg and t.kind in (EXACT, KEY, LOWER):
                # Code-point order, as RFC 7644 and the evaluator compare, whatever the
                # database's default collation is.
                expr = expr.collate("C")
            cond = {"gt": expr > value, "ge": expr >= value, "lt": expr < value}.get(
                op, expr <= value
            )
        return and_(t.expr.isnot(None), cond)

    def _narrow(self, t: Target, op: str, value: Any) -> Ids | None:
        """``SELECT id`` of ``t``'s narrow copy's matches for a co/ew on PostgreSQL
        (``local_suffix.ids``: one ``@`` in the value reads an index-only range); None
        where the row's own column is used (SQLite, sw, eq...).

        Why: pg_trgm rechecks each match on its heap row, and the narrow rows (~90
        bytes against a users row's ~400) keep those pages few and cached (migration
        0021; docs/performance.md). sw stays on the users prefix B-tree (no recheck)."""
        if not (self.pg and t.narrow is not None and op in ("co", "ew") and value != ""):
            return None
        row_id, key = t.narrow
        _expr, value = self.operands(t, value)
        return local_suffix.ids(row_id, key, op, value, self._substring(key, op, value, t.address))

    def _narrow_cmp(self, node: Node) -> Ids | None:
        """``_narrow`` for a filter that is one comparison on a top-level attribute, or
        ``_narrow_any`` for one on emails."""
        if isinstance(node, AnyOf):
            return self._narrow_any(node)
        if not isinstance(node, Cmp) or not isinstance(node.value, str):
            return None
        target = self.columns.get(node.ref.path)
        return self._narrow(target, node.op, node.value) if target is not None else None

    def _narrow_any(self, node: AnyOf) -> Ids | None:
        """``SELECT id`` of ``user_email_search`` for ``emails co "x"`` (also
        ``emails.value co``, ``emails[value co]``) on PostgreSQL: one row per user with
        the addresses' keys joined, so the count needs no DISTINCT and the rechecked
        rows are ~90 bytes (docs/performance.md). Exact for a value without the separator
        (see ``tables_scim_query.EMAIL_SEPARATOR``); anything else uses the email rows."""
        cond = node.cond
        if not (
            self.pg
            and self.resource == "User"
            and node.ref.path == ("emails",)
            and isinstance(cond, Cmp)
            and cond.ref.path == ("value",)
            and cond.op == "co"
            and isinstance(cond.value, str)
            and cond.value != ""
            and EMAIL_SEPARATOR not in cond.value
        ):
            return None
        keys = Target(user_email_search.c.email_keys, KEY, address=True)
        _expr, value = self.operands(keys, cond.value)
        match = self._substring(keys.expr, "co", value, True)
        return local_suffix.ids(user_email_search.c.id, keys.expr, "co", value, match)

    def copy_needle(self, node: Node) -> tuple[Any, str] | None:
        """(the narrow copy's key column, the casefolded value) for a filter that is one
        ``co`` a copy serves (see ``_narrow_cmp``); None otherwise."""
        if isinstance(node, AnyOf):
            if self._narrow_any(node) is None or not isinstance(node.cond, Cmp):
                return None
            return user_email_search.c.email_keys, str(node.cond.value).casefold()
        if not (isinstance(node, Cmp) and node.op == "co" and isinstance(node.value, str)):
            return None
        target = self.columns.get(node.ref.path)
        if target is None or target.narrow is None:
            return None
        if self._narrow(target, "co", node.value) is None:
            return None
        return target.narrow[1], self.operands(target, node.value)[1]

    def narrow_count(self, node: Node) -> Select[Any] | None:
        """``SELECT count(*)`` of the narrow copy's matches when the whole filter is one
        co/ew it serves (each copy row is one user): no users row is read."""
        narrow = self._narrow_cmp(node)
        if narrow is None:
            return None
        return select(func.count()).select_from(narrow.subquery("copy"))

    def narrow_ids(self, node: Node) -> Ids | None:
        """``SELECT id`` of the narrow copy's matches (see ``narrow_count``), or None."""
        return self._narrow_cmp(node)

    @staticmethod
    def operands(t: Target, value: Any) -> tuple[Any, Any]:
        """The two sides a comparison is made of, with the case rule of ``t`` applied."""
        expr: Any = t.expr
        if t.kind == JSON_BOOL:
            value = "true" if value else "false"
        elif t.kind == KEY:
            value = value.casefold()
        elif t.kind == LOWER:
            expr, value = func.lower(expr), value.lower()
        return expr, value

    def _substring(self, expr: Any, op: str, value: str, address: bool) -> ColumnElement[bool]:
        if value == "":
            return true()
        if self.pg:
            head = address_head(value) if address and op in ("co", "ew") else None
            if head is not None:
                return and_(
                    # Index condition: what precedes the domain (implied by the full value).
                    expr.like(f"%{like_escape(head)}%", escape="\\"),
                    # The whole value, in a form no index serves (checked on those rows).
                    func.strpos(expr, value) > 0
                    if op == "co"
                    else func.right(expr, len(value)) == value,
                )
            # LIKE is case-sensitive on PostgreSQL and pg_trgm indexes serve it.
            pattern = like_escape(value)
            pattern = {"co": f"%{pattern}%", "sw": f"{pattern}%", "ew": f"%{pattern}"}[op]
            return expr.like(pattern, escape="\\")  # type: ignore[no-any-return]
        # SQLite's LIKE ignores ASCII case and only uses an index on NOCASE columns, so
        # it is not used: a range for sw (index-backed on the key columns), instr and
        # substr for co and ew. No wildcard exists, so nothing needs escaping.
        if op == "sw":
            upper = next_prefix(value)
            low = expr >= value
            return and_(low, expr < upper) if upper is not None else low
        if op == "co":
            return func.instr(expr, value) > 0
        return func.substr(expr, -func.length(literal(value))) == value

    # -- multi-valued attributes -----------------------------------------------
    def _any_of(self, node: AnyOf) -> ColumnElement[bool]:
        # Row-backed attributes are "id IN (SELECT owner FROM rows WHERE ...)": a semi-join
        # both engines can drive from the rows' own index (value_key for emails sw/co),
        # where a correlated EXISTS would be probed once per user.
        narrow = self._narrow_any(node)
        if narrow is not None:
            return users.c.id.in_(narrow)
        name = node.ref.path[-1]
        owners = self._email_owners(node)
        if owners is not None:
            return users.c.id.in_(owners)
        if self.resource == "User" and name == "groups":
            gm, g = group_members.alias("gm"), groups.alias("g")
            subs = {
                "value": Target(gm.c.group_id, EXACT),
                "display": Target(g.c.display_name_key, KEY),
            }
            owners = select(gm.c.member_id).select_from(gm.join(g, g.c.id == gm.c.group_id))
            return users.c.id.in_(self._rows(owners, subs, node))
        if self.resource == "Group" and name == "members":
            gm = group_members.alias("gm")
            subs = {
                "value": Target(gm.c.member_id, EXACT),
                "type": Target(gm.c.member_type, LOWER),
            }
            return groups.c.id.in_(self._rows(select(gm.c.group_id), subs, node))
        if name in ("members", "groups"):
            raise InvalidFilter(f"{node.ref.label} cannot be filtered on")
        return self._json_elements(node)

    def _email_owners(self, node: AnyOf, rows: Any = user_emails) -> Any | None:
        """``SELECT user_id FROM user_emails WHERE ...`` for a condition on email rows
        (``rows``: the table or an alias of it)."""
        if not (
            self.resource == "User"
            and node.ref.path[-1] == "emails"
            and _subs(node) <= {"value", "type"}
        ):
            return None
        # The email rows index value and type; primary and display (whose absence the
        # rows do not keep) are read from the document (_json_elements).
        subs = {
            "value": Target(rows.c.value_key, KEY, address=True),
            "type": Target(rows.c.type, LOWER),
        }
        return self._rows(select(rows.c.user_id), subs, node)

    def owner_count(self, node: Node) -> Select[Any] | None:
        """``SELECT count(*)`` of the users a condition on email rows selects, counting
        each user's first matching row (no matching row at a lower position); None for
        any other filter.

        Why not ``count(*) FROM users WHERE id IN (owners)``: when most users match
        (`emails co "mail.ex"`), that hashes a million ids (and spills past work_mem):
        2.8 s against 0.84 s on PostgreSQL at 1M users (load 11). Most users have one
        address, at position 0 (positions are list indexes, from 0), which is its own
        first row, so the probe for an earlier one runs only for later positions. Exact
        because a user has one row per position (migration 0020's unique index) and
        every row has its user (the foreign key)."""
        if not isinstance(node, AnyOf):
            return None
        owners = self._email_owners(node)
        if owners is None:
            return None
        earlier_rows = user_emails.alias("earlier")
        earlier = self._email_owners(node, earlier_rows)
        earlier = earlier.with_only_columns(literal(1)).where(  # type: ignore[union-attr]
            earlier_rows.c.user_id == user_emails.c.user_id,
            earlier_rows.c.position < user_emails.c.position,
        )
        first = or_(user_emails.c.position == 0, not_(exists(earlier)))
        return owners.with_only_columns(func.count()).where(first)  # type: ignore[no-any-return]

    def matched(self, node: Node, key: Any) -> tuple[Select[Any], bool]:
        """``(id, sort_key)`` of every row ``node`` selects, for a page ordered afterwards.

        When the whole filter is one condition on the email rows and the order is the id,
        the ids come from the email rows alone (a foreign key gives each row its user):
        the same set, without a probe into users per match; one row per matching email,
        so the flag returned with the statement (one row per id) is then False."""
        narrow = self._narrow_cmp(node) if key is self.table.c.id else None
        if narrow is not None:
            # The same ids (the copy holds every user), without reading a users row.
            row_id = narrow.subquery("copy").c.id
            return select(row_id.label("id"), row_id.label("sort_key")), True
        if key is self.table.c.id and isinstance(node, AnyOf):
            owners = self._email_owners(node)
            if owners is not None:
                owner = user_emails.c.user_id
                rows: Select[Any] = owners.with_only_columns(
                    owner.label("id"), owner.label("sort_key")
                )
                return rows, False
        return select(self.table.c.id, key.label("sort_key")).where(self.where(node)), True

    def _rows(self, owners: Any, subs: dict[str, Target], node: AnyOf) -> Any:
        def target(ref: Ref) -> Target:
            found = subs.get(ref.path[0])
            if found is None:
                raise InvalidFilter(f"{node.ref.label}.{ref.path[0]} cannot be filtered on")
            return found

        cond = self._node(node.cond, target) if node.cond is not None else true()
        return owners.where(cond)

    def _json_elements(self, node: AnyOf) -> ColumnElement[bool]:
        doc = self.table.c.doc
        if self.pg:
            array = doc[node.ref.path] if len(node.ref.path) > 1 else doc[node.ref.path[0]]
            safe = case(
                (func.jsonb_typeof(array) == "array", array),
                else_=literal("[]").cast(JSONB),
            )
            elements = (
                func.jsonb_array_elements(safe).table_valued(column("value", JSONB)).alias("el")
            )
            is_object = func.jsonb_typeof(elements.c.value) == "object"
        else:
            json_path = "$" + "".join(f'."{p}"' for p in node.ref.path)
            elements = func.json_each(doc, json_path).table_valued("value", "type").alias("el")
            is_object = and_(func.json_type(doc, json_path) == "array", elements.c.type == "object")

        def target(ref: Ref) -> Target:
            return self._json_target(elements.c.value, ref.path, ref.attr)

        cond = self._node(node.cond, target) if node.cond is not None else true()
        return exists(select(literal(1)).select_from(elements).where(is_object, cond))


def _subs(node: AnyOf) -> set[str]:
    """The sub-attributes the condition of ``node`` names."""
    if node.cond is None:
        return set()
    return {ref.path[0] for ref in walk_refs(node.cond)}
