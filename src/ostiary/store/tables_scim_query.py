"""Indexes that serve SCIM filters beyond the lookups ``tables`` already indexes.

PostgreSQL: trigram GIN indexes (pg_trgm) for ``co``/``ew`` on userName and email
addresses, which LIKE '%x%' can use, and ``text_pattern_ops`` B-trees for ``sw`` (LIKE
'x%' as a range scan: the plain indexes use the database collation, which LIKE cannot).
SQLite has no trigram index; there the same names are empty partial indexes
(``WHERE 0``: never written, never chosen by the planner), so one metadata describes
both engines and the migration test compares them exactly.
"""

from __future__ import annotations

from sqlalchemy import Index, text

from ostiary.store.tables import user_emails, users

user_name_trgm = Index(
    "ix_users_user_name_key_trgm",
    users.c.user_name_key,
    postgresql_using="gin",
    postgresql_ops={"user_name_key": "gin_trgm_ops"},
    sqlite_where=text("0"),
)
email_value_trgm = Index(
    "ix_user_emails_value_key_trgm",
    user_emails.c.value_key,
    postgresql_using="gin",
    postgresql_ops={"value_key": "gin_trgm_ops"},
    sqlite_where=text("0"),
)
user_name_prefix = Index(
    "ix_users_user_name_key_prefix",
    users.c.user_name_key,
    postgresql_ops={"user_name_key": "text_pattern_ops"},
    sqlite_where=text("0"),
)
email_value_prefix = Index(
    "ix_user_emails_value_key_prefix",
    user_emails.c.value_key,
    postgresql_ops={"value_key": "text_pattern_ops"},
    sqlite_where=text("0"),
)
