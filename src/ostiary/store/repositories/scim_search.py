"""Running a SCIM search: filter, sort, count and one page of rows.

Paging (RFC 7644 section 3.4.2.4) is by ``startIndex``/``count`` or, for clients that walk
everything, by an opaque cursor (RFC 9865): the cursor carries the last row's sort key
and id, so the next page is an index range scan that costs the same on page 1,000 as
on page 1. ``startIndex`` pages fetch only the ids of the page first (an index-only
OFFSET) and then those rows, which keeps OFFSET cheap but still linear; see
docs/performance.md for both measured.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Connection,
    Row,
    Select,
    and_,
    bindparam,
    case,
    func,
    select,
    text,
    true,
    tuple_,
)

from ostiary.scim.errors import InvalidValue, ScimError
from ostiary.scim.filter import Cmp, Node, Ref
from ostiary.store import domain_counts
from ostiary.store.db import unprepared
from ostiary.store.estimate import estimated_rows
from ostiary.store.scim_query import EXACT, KEY, LOWER, TIME, Translator
from ostiary.store.substring import has_substring
from ostiary.store.tables import group_members, groups, user_emails, users

# Sort keys with a value on every row: what a cursor can carry (a NULL breaks row order).
CURSOR_KEYS = (
    users.c.id,
    users.c.user_name_key,
    users.c.created_at,
    users.c.updated_at,
    groups.c.id,
    groups.c.display_name_key,
    groups.c.created_at,
    groups.c.updated_at,
)


# From this startIndex on, a page is found by its ids first (see run).
LATE_LOOKUP_FROM = 10_000
# Substring searches on PostgreSQL hold up to this many matches to order them (see
# _matched_page); more go the general way.
MATCH_FIRST_MAX = 20_000
# ... and when the planner expects more matches than this (10x the cap), the general
# path answers at once (see _dense).
DENSE_FROM = 10 * MATCH_FIRST_MAX


def invalid_cursor(detail: str) -> ScimError:
    return ScimError(detail, scim_type="invalidCursor")  # RFC 9865 section 4


@dataclass
class Page:
    total: int
    rows: Sequence[Row[Any]] = field(default_factory=list)
    next_cursor: str | None = None


@dataclass
class Query:
    filter: Node | None = None
    sort: Ref | None = None
    descending: bool = False
    start_index: int = 1
    count: int = 100
    cursor: str | None = None  # "" asks for the first page of a cursor walk
    # What to read of each row on an unfiltered listing (the table's columns if None):
    # a sync walk asks for a few column-backed attributes (web/scim/slim_list.py).
    columns: Sequence[Any] | None = None


class ScimSearch:
    def __init__(self, conn: Connection, resource: str) -> None:
        self.conn = conn
        self.tr = Translator(resource, conn.dialect.name)
        self.table = self.tr.table
        self._jit_off = False

    def sort_key(self, ref: Ref | None) -> tuple[Any, str]:
        """(the ORDER BY expression, its kind); the id when nothing is asked for."""
        if ref is None:
            return self.table.c.id, EXACT
        if ref.attr.multi:
            if self.tr.resource == "User" and ref.path == ("emails",):
                # The primary email, else the first (RFC 7644 section 3.4.2.3).
                first = (
                    select(user_emails.c.value_key)
                    .where(user_emails.c.user_id == users.c.id)
                    .order_by(user_emails.c.primary.desc(), user_emails.c.position)
                    .limit(1)
                    .scalar_subquery()
                )
                return first, KEY
            raise InvalidValue(f"sortBy {ref.label} is not supported")
        target = self.tr.top_target(ref)
        if target.kind == LOWER:
            return func.lower(target.expr), LOWER
        return target.expr, target.kind

    def count(self, where: Any, node: Node | None = None) -> int:
        """The rows ``where`` selects; ``node``, the filter it was made from, may have a
        cheaper exact count (``Translator.owner_count``)."""
        stmt = self.tr.narrow_count(node) if node is not None else None
        if stmt is not None:
            assert node is not None
            # A full count of the copy when most users match: JIT from ~3M users.
            self._no_jit()
            found = self.tr.copy_needle(node)
            by_domain = domain_counts.count(self.conn, *found) if found is not None else None
            if by_domain is not None:
                return by_domain
            return int(self.conn.execute(stmt).scalar_one())
        stmt = self.tr.owner_count(node) if node is not None else None
        if stmt is None:
            stmt = select(func.count()).select_from(self.table).where(where)
        elif self.tr.pg:
            # Its probe for an earlier address is costed as if run on every row (the
            # plan's cost is ~8.5 million at 1M users, though the probe never ran in the
            # benchmark): past jit_inline_above_cost, where compiling took seconds.
            self._no_jit()
        return int(self.conn.execute(stmt).scalar_one())

    def _no_jit(self) -> None:
        """JIT off for the rest of this transaction (see the callers)."""
        if not self._jit_off:
            self.conn.execute(_NO_JIT)
            self._jit_off = True

    def run(self, q: Query) -> Page:
        prepared = self._prepared_eq(q)
        if prepared is not None:
            return prepared
        substring = self.tr.pg and q.filter is not None and has_substring(q.filter)
        if substring:
            # Their best plan depends on the pattern: planned for each value, not once.
            with unprepared(self.conn):
                return self._search(q, substring)
        return self._search(q, substring)

    def _search(self, q: Query, substring: bool) -> Page:
        if substring and q.filter is not None and q.cursor is None:
            matched = None if self._dense(q.filter) else self._matched_page(q, q.filter)
            if matched is not None:
                return matched
            # Past the cap the count below reads every match (a million rows costs
            # ~85,000 at 1M users): over jit_above_cost (100,000 by default) a little
            # further on, where compiling it took 150 ms, and 3.2 s with inlining (past
            # 500,000). This transaction's statements are OLTP-sized or a full count,
            # which JIT does not speed up; see docs/performance.md.
            self._no_jit()
        where = self.tr.where(q.filter) if q.filter is not None else true()
        if q.count == 0:
            return Page(self.count(where, q.filter))
        key, kind = self.sort_key(q.sort)
        order = [_direction(key, q.descending), _direction(self.table.c.id, q.descending)]
        if q.cursor is not None:
            return self._cursor_page(q, where, key, kind, order)
        offset = q.start_index - 1
        if offset < LATE_LOOKUP_FROM:
            stmt = self._select(q, key).where(where).order_by(*order)
            rows: Sequence[Row[Any]] = self.conn.execute(stmt.offset(offset).limit(q.count)).all()
        else:
            # Late row lookup: the OFFSET walks (index-only where the key is indexed)
            # ids, not whole documents; then only the page's rows are read.
            ids = select(self.table.c.id).where(where).order_by(*order)
            page_ids = self.conn.execute(ids.offset(offset).limit(q.count)).scalars().all()
            rows = self._rows(list(page_ids), self._columns(q))
        return Page(self._total(where, q.filter, offset, len(rows), q.count), rows)

    def _prepared_eq(self, q: Query) -> Page | None:
        """``attr eq "value"`` on a column (userName, externalId, id, displayName...), first
        page, default order: the lookup clients send most. Its statement is built once
        per attribute and reused with new values (no select() construction, a memoized
        cache key); the SQL is the one the general path builds for the same query."""
        node = q.filter
        if not (
            isinstance(node, Cmp)
            and node.op == "eq"
            and isinstance(node.value, str)
            and q.sort is None
            and q.cursor is None
            and q.start_index == 1
            and q.count > 0
        ):
            return None
        target = self.tr.columns.get(node.ref.path)
        if target is None or target.kind not in (EXACT, KEY, LOWER):
            return None
        cache_key = (self.tr.resource, node.ref.path)
        stmt = _PREPARED.get(cache_key)
        if stmt is None:
            expr, _ = self.tr.operands(target, "")
            key, _kind = self.sort_key(None)
            cond = and_(target.expr.isnot(None), expr == bindparam("value"))
            order = [_direction(key, False), _direction(self.table.c.id, False)]
            stmt = select(self.table, key.label("sort_key")).where(cond).order_by(*order)
            stmt = _PREPARED.setdefault(cache_key, stmt.offset(0).limit(bindparam("count")))
        value = self.tr.operands(target, node.value)[1]
        rows = self.conn.execute(stmt, {"value": value, "count": q.count}).all()
        if len(rows) < q.count:
            return Page(len(rows), rows)
        return Page(self.count(self.tr.where(node)), rows)

    def _dense(self, node: Node) -> bool:
        """Whether PostgreSQL expects ``node`` (one co/ew served by a narrow copy) to match
        more than DENSE_FROM users (10x MATCH_FIRST_MAX): the capped attempt would then
        read MATCH_FIRST_MAX + 1 matches only to give up (~10 ms at 1M users for
        `userName co "example.c"`), so the general path answers at once.

        Only the path is chosen, never the answer (both are exact). A wrong estimate
        costs time: an underestimate, the capped attempt as before; an overestimate
        (stale statistics), the ordered walk the capped attempt avoids. The margin keeps
        sampling noise out: 20% of the histogram must contain the needle, where the
        10,000-match needles of the benchmark (1%) were estimated at 100-20,202 rows."""
        ids = self.tr.narrow_ids(node)
        if ids is None:
            return False
        return estimated_rows(self.conn, ids) > DENSE_FROM

    def _matched_page(self, q: Query, node: Node) -> Page | None:
        """A substring search on PostgreSQL: the matches first (driven by the trigram or
        prefix index), then the count and the page's ids from that one set, then the
        page's rows; None when there are more than MATCH_FIRST_MAX matches.

        Why not ORDER BY ... LIMIT: when the planner expects many matches it walks the id
        (or sort key) index and filters until the page is full, fast only if the matches
        are spread evenly in that order. They are often not (users imported in name
        order: `userName sw "user092"` walked 920,000 rows, 1.1 s, at 1M users; see
        docs/performance.md). Matching first costs O(matches), as the COUNT for
        totalResults does whenever a page is full. Past the cap the matches are dense,
        the ordered walk stops early, and the general path (index-only COUNT) is cheaper
        than holding every match: the capped attempt costs at most MATCH_FIRST_MAX rows."""
        key, _kind = self.sort_key(q.sort)
        found, unique = self.tr.matched(node, key)
        matched = found.limit(MATCH_FIRST_MAX + 1).cte("matched").prefix_with("MATERIALIZED")
        # The count once, read by each place that needs it (a scalar subquery repeated
        # in the SQL would be planned, and run over the matches, once per use).
        counted = (
            select(func.count().label("n"))
            .select_from(matched)
            .cte("counted")
            .prefix_with("MATERIALIZED")
        )
        n = select(counted.c.n).scalar_subquery()
        within = n <= MATCH_FIRST_MAX
        # An email condition gives one row per matching email: count and page distinct ids.
        distinct = select(func.count(matched.c.id.distinct())).scalar_subquery()
        # Past the cap the general path answers: PostgreSQL then skips the page's sort
        # (a one-time filter) and the distinct count (a CASE branch not taken).
        counts = select(
            n.label("n"), case((within, n if unique else distinct)).label("total")
        ).subquery("counts")
        if q.count > 0:
            page_rows = select(matched.c.id, matched.c.sort_key).where(within)
            page = (
                (page_rows if unique else page_rows.distinct())
                .order_by(*order_of(matched, q))
                .offset(q.start_index - 1)
                .limit(q.count)
                .subquery()
            )
            # The page's rows with the counts, or (LEFT JOIN) the counts alone with NULL
            # columns when the page is empty: one round trip either way.
            rows = page.join(self.table, self.table.c.id == page.c.id)
            stmt = select(self.table, counts.c.n, counts.c.total).select_from(
                counts.outerjoin(rows, true())
            )
            got = self.conn.execute(stmt.order_by(*order_of(page, q))).all()
        else:
            got = self.conn.execute(select(counts)).all()
        if got[0].total is None:  # more than MATCH_FIRST_MAX matches
            return None
        return Page(int(got[0].total), [r for r in got if q.count > 0 and r.id is not None])

    def _total(self, where: Any, node: Node | None, offset: int, got: int, count: int) -> int:
        """A page that is not full ends the result, so its end is the total; a
        count query only runs when more rows may follow (or the page starts past the
        end). A single-user lookup (userName eq) is one query, not two."""
        if got < count and (got > 0 or offset == 0):
            return offset + got
        return self.count(where, node)

    def _cursor_page(self, q: Query, where: Any, key: Any, kind: str, order: list[Any]) -> Page:
        if not any(key is c for c in CURSOR_KEYS):
            raise invalid_cursor("cursor paging needs a sortBy with a value on every row")
        stmt = self._select(q, key).where(where).order_by(*order)
        if q.cursor:
            after = self._decode(q.cursor, kind)
            pair = tuple_(key, self.table.c.id)
            stmt = stmt.where(pair < tuple_(*after) if q.descending else pair > tuple_(*after))
        rows: Sequence[Row[Any]] = self.conn.execute(stmt.limit(q.count + 1)).all()
        more = len(rows) > q.count
        rows = rows[: q.count]
        nxt = self._encode(rows[-1].sort_key, rows[-1].id) if more else None
        total = self.count(where, q.filter) if more or q.cursor else len(rows)
        return Page(total, rows, nxt)

    def _select(self, q: Query, key: Any) -> Select[Any]:
        return select(*self._columns(q), key.label("sort_key"))

    def _columns(self, q: Query) -> Sequence[Any]:
        return q.columns if q.columns is not None and q.filter is None else (self.table,)

    def _rows(self, ids: list[str], columns: Sequence[Any]) -> list[Row[Any]]:
        if not ids:
            return []
        stmt = select(*columns).where(self.table.c.id.in_(ids))
        found = {r.id: r for r in self.conn.execute(stmt)}
        return [found[i] for i in ids if i in found]

    @staticmethod
    def _encode(value: Any, row_id: str) -> str:
        raw = value.isoformat() if isinstance(value, datetime) else value
        data = json.dumps([raw, row_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    @staticmethod
    def _decode(cursor: str, kind: str) -> tuple[Any, str]:
        try:
            data = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            value, row_id = json.loads(data)
            if kind == TIME:
                value = datetime.fromisoformat(value)
            if not isinstance(row_id, str) or not isinstance(value, str | datetime):
                raise ValueError("cursor fields")
        except (ValueError, TypeError):
            raise invalid_cursor("the cursor is not one this server issued") from None
        return value, row_id


_NO_JIT = text("SET LOCAL jit = off")
# (resource, attribute path) -> the prepared first-page ``eq`` statement (see run).
_PREPARED: dict[tuple[str, tuple[str, ...]], Select[Any]] = {}


def order_of(page: Any, q: Query) -> list[Any]:
    return [_direction(page.c.sort_key, q.descending), _direction(page.c.id, q.descending)]


def _direction(expr: Any, descending: bool) -> Any:
    """Unassigned values sort last ascending, first descending (RFC 7644 section 3.4.2.3)."""
    return expr.desc().nulls_first() if descending else expr.asc().nulls_last()


# Built once (an expanding IN): every listing and lookup runs one of these.
_GROUPS_OF = (
    select(group_members.c.member_id, groups.c.id, groups.c.display_name)
    .join(groups, groups.c.id == group_members.c.group_id)
    .where(group_members.c.member_id.in_(bindparam("ids", expanding=True)))
    .order_by(groups.c.id)
)
_MEMBERS_OF = (
    select(group_members.c.group_id, group_members.c.member_id, group_members.c.member_type)
    .where(group_members.c.group_id.in_(bindparam("ids", expanding=True)))
    .order_by(group_members.c.member_id)
)


def groups_of(conn: Connection, user_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """user id -> [(group id, group displayName)] for the direct memberships."""
    out: dict[str, list[tuple[str, str]]] = {i: [] for i in user_ids}
    if not user_ids:
        return out
    for member_id, group_id, name in conn.execute(_GROUPS_OF, {"ids": user_ids}):
        out[member_id].append((group_id, name))
    return out


def members_of(conn: Connection, group_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """group id -> [(member id, member type)]."""
    out: dict[str, list[tuple[str, str]]] = {i: [] for i in group_ids}
    if not group_ids:
        return out
    for group_id, member_id, member_type in conn.execute(_MEMBERS_OF, {"ids": group_ids}):
        out[group_id].append((member_id, member_type))
    return out
