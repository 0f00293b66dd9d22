"""The ``attr eq "value"`` first-page User lookup on the raw DBAPI connection.

The lookup clients send most (``userName eq``, ``externalId eq``: Entra, Okta and the
sync agent before every write) is one indexed row. Through SQLAlchemy's connection,
transaction events and result machinery it cost more CPU than SQLite spent finding the
row, and on PostgreSQL four round trips (pool pre-ping, BEGIN, the query, the rollback
on return) plus a second query for the group memberships.

Here the statement is compiled once per (attribute, dialect) by SQLAlchemy from the same
clause the general path builds (``ScimSearch._prepared_eq``: same WHERE, same index, same
id order), with the direct group memberships folded in as a correlated JSON aggregate, so
the whole answer is one statement: one snapshot on both engines without a transaction,
one round trip on PostgreSQL. It runs on a connection of ``Database.lookups``, kept in
autocommit mode and outside the pool. Rows become the same ``User`` records
``row_to_user`` makes (``tests/web/test_scim_lookup_fast.py`` compares whole responses).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Engine, and_, bindparam, func, select

from ostiary.directory.models import User
from ostiary.scim.filter import Cmp
from ostiary.store.db import LookupConnections
from ostiary.store.scim_query import EXACT, KEY, LOWER, Translator
from ostiary.store.tables import group_members, groups, users

log = logging.getLogger("ostiary.store")
Memberships = list[tuple[str, str]]  # (group id, group displayName), by group id
# The users columns in the order the statement selects them (row_to_user's fields).
_COLUMNS = (
    "id",
    "user_name",
    "external_id",
    "display_name",
    "given_name",
    "family_name",
    "active",
    "doc",
    "password_hash",
    "version",
    "created_at",
    "updated_at",
)


@dataclass(frozen=True)
class _Prepared:
    sql: str
    names: tuple[str, ...] | None  # positional parameter order; None: named (psycopg)
    defaults: dict[str, Any]


# (attribute path, dialect) -> the compiled statement.
_PREPARED: dict[tuple[tuple[str, ...], str], _Prepared] = {}


def _memberships(pg: bool) -> Any:
    """The user's direct memberships as a JSON array of [group id, displayName]: the
    member index, then each group by primary key (a scalar subquery, so no planner picks
    a scan of ``groups`` for a hash join; the foreign key means every group exists)."""
    name = (
        select(groups.c.display_name)
        .where(groups.c.id == group_members.c.group_id)
        .scalar_subquery()
    )
    pair = (
        func.json_build_array(group_members.c.group_id, name)
        if pg
        else func.json_array(group_members.c.group_id, name)
    )
    agg = func.json_agg(pair) if pg else func.json_group_array(pair)
    return select(agg).where(group_members.c.member_id == users.c.id).scalar_subquery()


def _prepare(engine: Engine, tr: Translator, path: tuple[str, ...]) -> _Prepared | None:
    key = (path, engine.dialect.name)
    found = _PREPARED.get(key)
    if found is not None:
        return found
    target = tr.columns.get(path)
    if target is None or target.kind not in (EXACT, KEY, LOWER):
        return None
    expr, _ = tr.operands(target, "")
    cond = and_(target.expr.isnot(None), expr == bindparam("value"))
    columns = [users.c[name] for name in _COLUMNS]
    memberships = _memberships(tr.pg).label("memberships")
    stmt = select(*columns, memberships).where(cond).order_by(users.c.id).limit(bindparam("count"))
    compiled = stmt.compile(dialect=engine.dialect)
    names = tuple(compiled.positiontup) if compiled.positional and compiled.positiontup else None
    prepared = _Prepared(
        str(compiled), names, dict(compiled.construct_params({"value": "", "count": 1}))
    )
    return _PREPARED.setdefault(key, prepared)


@dataclass(frozen=True)
class _Plan:
    """A prepared statement and how to bind it, per (attribute, dialect): the per-request
    work is the value's case rule and one tuple or dict."""

    prepared: _Prepared
    fold: Callable[[str], str]  # the value's case rule, as ``Translator.operands`` applies it

    def args(self, value: str, count: int) -> Any:
        params = {**self.prepared.defaults, "value": self.fold(value), "count": count}
        names = self.prepared.names
        return params if names is None else tuple([params[n] for n in names])


_PLANS: dict[tuple[tuple[str, ...], str], _Plan | None] = {}
_FOLD: dict[str, Callable[[str], str]] = {EXACT: str, KEY: str.casefold, LOWER: str.lower}


def _plan(engine: Engine, path: tuple[str, ...]) -> _Plan | None:
    key = (path, engine.dialect.name)
    if key not in _PLANS:
        tr = Translator("User", engine.dialect.name)
        prepared = _prepare(engine, tr, path)
        target = tr.columns.get(path)
        fold = _FOLD.get(target.kind) if target is not None else None
        # The case rule Translator.operands applies, checked once: should the two ever
        # differ, this attribute goes to the general path instead.
        if target is None or fold is None or fold("Aß") != tr.operands(target, "Aß")[1]:
            fold = None
        _PLANS[key] = _Plan(prepared, fold) if prepared is not None and fold else None
    return _PLANS[key]


def _loads(raw: Any) -> Any:
    if not isinstance(raw, str | bytes):
        return raw  # psycopg already decoded json/jsonb
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)  # what orjson refuses (integers beyond 64 bits)


def _utc(value: Any) -> datetime | None:
    if value is None:
        return None
    when: datetime = (  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff", naive UTC
        datetime.fromisoformat(value) if isinstance(value, str) else value
    )
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _user(row: tuple[Any, ...]) -> tuple[User, Memberships]:
    (uid, name, ext, display, given, family, active, doc, pw, version, created, updated, m) = row
    doc = _loads(doc) or {}
    emails = doc.get("emails") or []
    user = User(
        id=uid,
        user_name=name,
        active=bool(active),
        external_id=ext,
        display_name=display,
        given_name=given,
        family_name=family,
        emails=[e["value"] for e in emails if isinstance(e, dict) and "value" in e],
        doc=doc,
        password_hash=pw,
        version=version,
        created_at=_utc(created),
        updated_at=_utc(updated),
    )
    pairs = sorted((str(g), str(n)) for g, n in _loads(m) or () if n is not None)
    return user, pairs


def lookup_users(
    conns: LookupConnections, node: Any, count: int
) -> list[tuple[User, Memberships]] | None:
    """The first ``count`` users matching ``node`` (an ``attr eq "string"`` on a column),
    in id order, each with its direct memberships; None when this lookup does not apply
    (another shape, a full page whose total needs a COUNT, no free connection): the caller
    then runs the general search, which gives the same answer."""
    if not (isinstance(node, Cmp) and node.op == "eq" and isinstance(node.value, str)):
        return None
    if count <= 0:
        return None
    plan = _plan(conns.engine, node.ref.path)
    if plan is None:
        return None
    args = plan.args(node.value, count)
    try:
        with conns.connection() as conn:
            if conn is None:
                return None
            rows = _fetch(conn, plan.prepared.sql, args)
    except Exception as exc:
        # A connection the server dropped (restart, idle timeout): it is closed by now;
        # the general path (pooled, pre-pinged) answers this request.
        log.warning("raw SCIM lookup failed (%s): general path", type(exc).__name__)
        return None
    if len(rows) >= count:
        return None  # the page is full: totalResults needs a COUNT (the general path)
    return [_user(r) for r in rows]


def _fetch(conn: Any, sql: str, args: Any) -> list[tuple[Any, ...]]:
    cur = conn.cursor()
    try:
        cur.execute(sql, args)
        return list(cur.fetchall())
    finally:
        cur.close()
