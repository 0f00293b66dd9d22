"""Indexes that serve SCIM filters beyond the lookups ``tables`` already indexes.

PostgreSQL: trigram GIN indexes (pg_trgm) for ``co``/``ew`` on userName (on the narrow
``user_name_search`` copy, below) and email addresses, which LIKE '%x%' can use, and
``text_pattern_ops`` B-trees for ``sw`` (LIKE 'x%' as a range scan: the plain indexes
use the database collation, which LIKE cannot).
SQLite has no trigram index; there the same names are empty partial indexes
(``WHERE 0``: never written, never chosen by the planner), so one metadata describes
both engines and the migration test compares them exactly.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    text,
)

from ostiary.store.tables import metadata, user_emails, users


def _pg_only_index(name: str, column: Column[Any], ops: str, **kw: Any) -> Index:
    """An index on ``column`` with PostgreSQL operator class ``ops`` (``gin_trgm_ops`` with
    ``postgresql_using="gin"``, or ``text_pattern_ops``); on SQLite the empty partial
    index the module docstring describes."""
    return Index(name, column, postgresql_ops={column.name: ops}, sqlite_where=text("0"), **kw)


def _trgm_index(name: str, column: Column[Any]) -> Index:
    """A pg_trgm GIN index (``co``/``ew`` as LIKE '%x%')."""
    return _pg_only_index(name, column, "gin_trgm_ops", postgresql_using="gin")


def _prefix_index(name: str, column: Column[Any]) -> Index:
    """A ``text_pattern_ops`` B-tree (``sw`` as LIKE 'x%')."""
    return _pg_only_index(name, column, "text_pattern_ops")


# (id, userName key) of every user, kept by PostgreSQL triggers on users (migration 0021)
# in the writing transaction; what ``userName co``/``ew`` search on PostgreSQL. Why a copy:
# pg_trgm rechecks every match on its heap row, and a users row is ~400 bytes (391 MB at
# 1M users, more than a default shared_buffers), so a needle matching 10,000 users read
# 10,000 users pages per search; this table is 89 MB and stays cached. See
# docs/performance.md ("narrow userName table"). On SQLite it stays empty (no trigram
# search there; the triggers are not created), so one metadata describes both engines.
user_name_search = Table(
    "user_name_search",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_name_key", String(512), nullable=False),
)
user_name_trgm = _trgm_index("ix_user_name_search_trgm", user_name_search.c.user_name_key)
# The same for ``emails co``: one row per user with addresses, holding their keys in
# position order joined by EMAIL_SEPARATOR (kept by triggers on user_emails, migration
# 0021). One row per user also makes the count a plain count (no DISTINCT over the
# addresses). A needle without the separator matches the joined keys exactly when it
# matches one address (any part of an address between separators is part of that
# address), so it serves ``co`` on the value only; see ``Translator._narrow_any``.
EMAIL_SEPARATOR = "\x1f"
user_email_search = Table(
    "user_email_search",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("email_keys", Text, nullable=False),
)
user_email_trgm = _trgm_index("ix_user_email_search_trgm", user_email_search.c.email_keys)
email_value_trgm = _trgm_index("ix_user_emails_value_key_trgm", user_emails.c.value_key)
user_name_prefix = _prefix_index("ix_users_user_name_key_prefix", users.c.user_name_key)
email_value_prefix = _prefix_index("ix_user_emails_value_key_prefix", user_emails.c.value_key)

# Users per domain signature of each copy (migration 0022): what counts a ``co`` needle
# found in every domain without reading a row per match (``store.domain_counts``).
# ``copy``: NAME_COPY or EMAIL_COPY; ``domains``: the copy row's domains in order, joined
# by EMAIL_SEPARATOR ('' for a key without '@'); ``signature``: sha256 of ``domains``.
# ``scim_domain_counts`` holds the folded counts, ``scim_domain_deltas`` the +1/-1 the
# copies' sync functions append since (no key: a write only appends); a count is the sum
# of both. Empty on SQLite.
NAME_COPY = 1
EMAIL_COPY = 2
scim_domain_counts = Table(
    "scim_domain_counts",
    metadata,
    Column("copy", SmallInteger, primary_key=True),
    Column("signature", LargeBinary, primary_key=True),
    Column("domains", Text, nullable=False),
    Column("n", BigInteger, nullable=False),
)
scim_domain_deltas = Table(
    "scim_domain_deltas",
    metadata,
    Column("copy", SmallInteger, nullable=False),
    Column("domains", Text, nullable=False),
    Column("d", Integer, nullable=False),
)
# Trigram indexes on ``scim_key_locals(key)`` of the two copies (migration 0022), and
# the reversed local-part B-trees and other keys' trigram indexes (migration 0023):
# expressions or predicates over PostgreSQL functions, created by the migrations only, so
# the metadata does not declare them and the migration test leaves them out of its
# comparison.
PG_ONLY_INDEXES = frozenset(
    {
        "ix_user_name_search_locals_trgm",
        "ix_user_email_search_locals_trgm",
        "ix_user_name_search_local_rev",
        "ix_user_email_search_local_rev",
        "ix_user_name_search_many_ats_trgm",
        "ix_user_email_search_many_ats_trgm",
    }
)
