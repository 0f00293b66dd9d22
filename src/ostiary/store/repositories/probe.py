"""Which of many key values a table holds, planned as index lookups whatever the stats.

On PostgreSQL ``col = ANY(:values)`` / ``col IN (...)`` is planned from the table's
statistics. A bulk load into an empty table outruns autoanalyze (and the benchmark server
runs with autovacuum off), so the planner still thinks the table is tiny and picks a
sequential scan per chunk (1,000 ids over 50,000 users: 18.7 ms instead of 0.3 ms), or,
for userName, the trigram GIN index, whose unsorted pending list it does not cost (200
names over 8,000 fresh rows: 6.9 s). A ``LATERAL (... LIMIT 1)`` subquery per value can
only be run as one unique-index lookup each. SQLite plans ``IN`` over the index anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from sqlalchemy import Connection, Table, TextClause, select, text

CHUNK = 500  # values per statement: under SQLite's bound-parameter limit


@lru_cache(maxsize=16)
def _lateral(table: str, column: str, within: str | None) -> TextClause:
    # Names come from the declared tables (never from input): only the values are bound.
    scope = f"{within} = :within AND " if within else ""
    return text(
        f"SELECT hit.v FROM unnest(CAST(:values AS text[])) AS k(v), LATERAL "  # noqa: S608
        f"(SELECT {column} AS v FROM {table} WHERE {scope}{column} = k.v LIMIT 1) AS hit"
    )


def present(
    conn: Connection,
    table: Table,
    column: str,
    values: Iterable[str],
    within: tuple[str, str] | None = None,
) -> set[str]:
    """The members of ``values`` that some row of ``table`` has in ``column`` (an
    indexed, preferably unique, string column); with ``within`` = (column, value), only
    rows having that value there (``column`` then completes a unique index with it: a
    group's members)."""
    wanted = sorted(set(values))
    found: set[str] = set()
    pg = conn.dialect.name == "postgresql"
    scope_col, scope_value = within if within else (None, None)
    for i in range(0, len(wanted), CHUNK):
        part = wanted[i : i + CHUNK]
        if pg:
            stmt = _lateral(table.name, column, scope_col)
            params = {"values": part, "within": scope_value} if scope_col else {"values": part}
            found.update(conn.execute(stmt, params).scalars())
        else:
            col = table.c[column]
            q = select(col).where(col.in_(part))
            if scope_col:
                q = q.where(table.c[scope_col] == scope_value)
            found.update(conn.execute(q).scalars())
    return found
