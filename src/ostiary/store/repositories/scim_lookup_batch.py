"""Many ``attr eq "value"`` first-page User lookups answered by one statement per attribute.

On PostgreSQL the served eq lookup spent more CPU on getting to the database (a thread
hand-off per request, a statement, a round trip, psycopg's result machinery) than the
database spent finding the row. Under load a worker has many lookups in flight at once;
``web.scim.fast_lookup`` gathers the ones that arrive while a batch runs and hands them
here together: one statement per attribute for all their values.

The statement is the single lookup's (``scim_lookup._prepare``: same WHERE expression,
so the same index, same id order, same per-value LIMIT, the memberships aggregate) run
once per distinct value through ``unnest(values) CROSS JOIN LATERAL``, so each value
keeps its own page: a value with many matches (``externalId`` is not unique) cannot take
another value's rows. Rows carry the value they matched, which is how they are handed
back per lookup; each lookup's answer is what ``lookup_users`` gives for it alone
(``tests/web/test_scim_lookup_batch.py``), including None for a full page (the caller's
general search then counts).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, Text, and_, bindparam, cast, func, select, true
from sqlalchemy.dialects.postgresql import ARRAY

from ostiary.scim.filter import Cmp
from ostiary.store.db import LookupConnections
from ostiary.store.repositories.scim_lookup import (
    _COLUMNS,
    Memberships,
    _fetch,
    _memberships,
    _Plan,
    _plan,
    _user,
    lookup_users,
)
from ostiary.store.scim_query import Translator
from ostiary.store.tables import users

log = logging.getLogger("ostiary.store")
Found = list[tuple[Any, Memberships]] | None  # per lookup: what lookup_users returns


@dataclass(frozen=True)
class _Batch:
    sql: str  # named (pyformat) parameters: values, count and the statement's defaults
    defaults: dict[str, Any]


# attribute path -> the batched statement, or None when the attribute has no column to
# match on (the lookups then run one by one).
_BATCHES: dict[tuple[str, ...], _Batch | None] = {}


def _batch(engine: Engine, path: tuple[str, ...]) -> _Batch | None:
    if path in _BATCHES:
        return _BATCHES[path]
    tr = Translator("User", engine.dialect.name)
    target = tr.columns.get(path)
    made = None
    if target is not None and isinstance(target.expr, Column):
        expr, _ = tr.operands(target, "")  # the single lookup's left side (lower(...) etc.)
        values = (
            # text[], not the column's varchar(n)[]: a cast to varchar(n) would truncate.
            func.unnest(cast(bindparam("values"), ARRAY(Text())))
            .table_valued("value")
            .render_derived(name="v")
        )
        columns = [users.c[name] for name in _COLUMNS]
        page = (
            select(*columns, _memberships(True).label("memberships"))
            .where(and_(target.expr.isnot(None), expr == values.c.value))
            .order_by(users.c.id)
            .limit(bindparam("count"))
            .lateral("u")
        )
        stmt = (
            select(values.c.value, *page.c)
            .select_from(values.join(page, true()))
            .order_by(values.c.value, page.c.id)
        )
        compiled = stmt.compile(dialect=engine.dialect)
        if not compiled.positional:  # psycopg's named style; anything else: one by one
            defaults = dict(compiled.construct_params({"values": [], "count": 1}))
            made = _Batch(str(compiled), defaults)
    return _BATCHES.setdefault(path, made)


def lookup_batch(conns: LookupConnections, nodes: list[Any], count: int) -> list[Found]:
    """For each node (a bound filter), what ``lookup_users(conns, node, count)`` returns,
    with one statement per attribute on one connection (PostgreSQL). Nodes this does not
    batch (another dialect, another shape, an attribute without a plain column) are run
    one by one; a failed statement gives None for its lookups (the general path)."""
    found: list[Found] = [None] * len(nodes)
    groups: dict[tuple[str, ...], tuple[_Plan, _Batch, list[int]]] = {}
    for i, node in enumerate(nodes):
        one = conns.engine.dialect.name == "postgresql" and count > 0
        one = one and isinstance(node, Cmp) and node.op == "eq" and isinstance(node.value, str)
        plan = _plan(conns.engine, node.ref.path) if one else None
        batch = _batch(conns.engine, node.ref.path) if plan is not None else None
        if plan is None or batch is None:
            found[i] = lookup_users(conns, node, count)
            continue
        groups.setdefault(node.ref.path, (plan, batch, []))[2].append(i)
    if not groups:
        return found
    try:
        with conns.connection() as conn:
            if conn is None:
                return found  # none free: the general path, as lookup_users does
            for plan, batch, members in groups.values():
                folded = {i: plan.fold(nodes[i].value) for i in members}
                args = {**batch.defaults, "values": sorted(set(folded.values())), "count": count}
                rows: dict[str, list[tuple[Any, ...]]] = {}
                for row in _fetch(conn, batch.sql, args):
                    rows.setdefault(row[0], []).append(row[1:])
                for i, value in folded.items():
                    mine = rows.get(value, [])
                    # A full page: totalResults needs a COUNT (the general path).
                    found[i] = None if len(mine) >= count else [_user(r) for r in mine]
    except Exception as exc:
        log.warning("raw SCIM batch lookup failed (%s): general path", type(exc).__name__)
        return [f if i not in _batched(groups) else None for i, f in enumerate(found)]
    return found


def _batched(groups: dict[Any, tuple[Any, Any, list[int]]]) -> set[int]:
    return {i for _plan_, _batch_, members in groups.values() for i in members}
