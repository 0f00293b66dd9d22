"""``co``/``ew`` needles holding exactly one ``@`` on the narrow copies (PostgreSQL).

``userName co "49@example"`` matches ~10,000 users at 1M. Found through the trigram
index, every match is rechecked on its copy row: ~10,000 heap pages read for the exact
count (p99 ~175 ms cold; issue 3 point 10 asks < 50 ms). A key with exactly one ``@``
and no U+001F contains ``L@D`` exactly when its local part ends with ``L`` and its domain
starts with ``D`` (the needle's ``@`` can only be the key's); it ends with ``L@D`` exactly
when the local part ends with ``L`` and the domain is ``D``. Migration 0023 indexes those
keys by their reversed local part (``COLLATE "C"``, INCLUDE the key and the id), so the
candidates are one prefix range of an index-only scan, and the whole needle is checked
on the key the index holds. Every other key holding an ``@`` (several ``@``, several
joined addresses) is searched as before through its own small trigram index; keys
without ``@`` cannot match. The two reads select disjoint rows, so their UNION ALL is
exactly the matches, each once (tests/store/test_local_suffix.py compares it with the
in-memory evaluator).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    func,
    literal_column,
    select,
    union_all,
)

from ostiary.store.substring import next_prefix

# A statement selecting one column of ids: one SELECT, or the UNION ALL of two.
Ids = Select[Any] | CompoundSelect[Any]


def split(value: str) -> tuple[str, str] | None:
    """(local part, domain part) of a needle with exactly one ``@`` and text before it;
    None otherwise (an empty local part would make the range the whole index)."""
    local, at, domain = value.partition("@")
    if not at or not local or "@" in domain:
        return None
    return local, domain


def ids(row_id: Any, key: Any, op: str, value: str, other: ColumnElement[bool]) -> Ids:
    """``SELECT id`` of the copy rows whose ``key`` satisfies ``op value`` (co or ew),
    where ``other`` is the general condition for the same (any key). Uses the reversed
    local-part range when ``value`` holds one ``@``; else ``other`` on every row."""
    parts = split(value) if op in ("co", "ew") else None
    if parts is None or next_prefix(parts[0][::-1]) is None:
        return select(row_id).where(other)
    low = parts[0][::-1]
    # Constants written into the SQL (not bound): the expression must be migration
    # 0023's index expression for the planner to match it, whatever the plan kind.
    local = func.split_part(key, literal_column("'@'"), literal_column("1"))
    reversed_local = func.reverse(local).collate("C")
    whole = func.strpos(key, value) > 0 if op == "co" else func.right(key, len(value)) == value
    one_at = select(row_id).where(
        func.scim_key_one_at(key),
        reversed_local >= low,
        reversed_local < next_prefix(low),
        whole,
    )
    many_ats = select(row_id).where(func.scim_key_many_ats(key), other)
    return union_all(one_at, many_ats)
