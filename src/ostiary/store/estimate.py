"""The planner's row estimate for a statement (PostgreSQL): ``EXPLAIN (FORMAT JSON)``.

Used to choose between two plans that give the same answer, never as an answer: the
estimate comes from ANALYZE statistics (autovacuum's in production, the bench seed's
``VACUUM ANALYZE``) and may be stale or coarse (a ``LIKE '%x%'`` is judged by the share of
the column's 100-value histogram that contains ``x``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.visitors import InternalTraversal


class Explain(Executable, ClauseElement):
    """``EXPLAIN (FORMAT JSON) <statement>``, cached like the statement it wraps (its
    values stay bound parameters, so the planner sees them as a custom plan would)."""

    inherit_cache = True
    _traverse_internals = [("statement", InternalTraversal.dp_clauseelement)]

    def __init__(self, statement: Any) -> None:
        self.statement = statement

    @property
    def _all_selected_columns(self) -> tuple[()]:
        # A cached compilation's result columns are matched to these: the plan's one
        # column is no column of a table.
        return ()


@compiles(Explain, "postgresql")
def _explain(element: Explain, compiler: Any, **kw: Any) -> str:
    return "EXPLAIN (FORMAT JSON) " + str(compiler.process(element.statement, **kw))


def estimated_rows(conn: Connection, statement: Any) -> float:
    """The rows PostgreSQL expects ``statement`` to return (its top plan node's)."""
    plan = conn.execute(Explain(statement)).scalar_one()
    return float(plan[0]["Plan"]["Plan Rows"])
