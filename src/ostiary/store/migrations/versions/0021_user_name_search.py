"""user_name_search, user_email_search: narrow copies of users for substring search

``userName co``/``ew`` on PostgreSQL search this table's trigram index instead of one on
users (``tables_scim_query.user_name_search``). pg_trgm rechecks every match on its heap
row; a users row is ~400 bytes, so a needle matching 10,000 users read 10,000 users pages
(391 MB at 1M users, beyond a default shared_buffers), where this table's rows are ~90
bytes (89 MB). PostgreSQL triggers keep it in the writing transaction, for every write
path: insert, delete, a change of id or userName, TRUNCATE. The users trigram index goes
(nothing else searches it), so a create maintains one more heap row and B-tree entry and
the same trigram index as before. ``emails co`` likewise searches user_email_search (a
user's address keys joined, one row per user; triggers on user_emails); the user_emails
trigram index stays for the other email conditions. SQLite: the tables and empty partial
indexes only (no trigram search there), as migration 0004 did for its indexes.

Revision ID: 0021
Revises: 0020
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

SYNC = """
CREATE FUNCTION user_name_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO user_name_search (id, user_name_key) VALUES (NEW.id, NEW.user_name_key);
    ELSIF TG_OP = 'UPDATE' THEN
        UPDATE user_name_search SET id = NEW.id, user_name_key = NEW.user_name_key
        WHERE id = OLD.id;
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM user_name_search WHERE id = OLD.id;
    ELSE
        TRUNCATE user_name_search;
    END IF;
    RETURN NULL;
END
$$
"""
# user_email_search: the user's keys joined by U+001F, in position order, or no row.
EMAIL_SYNC = """
CREATE FUNCTION user_email_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    uids varchar(36)[] := '{}';
    uid varchar(36);
    joined text;
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        TRUNCATE user_email_search;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        -- No copy row means no other address (the rows and the copy change together):
        -- the new key is the whole value. A user's second address joins them all.
        INSERT INTO user_email_search (id, email_keys) VALUES (NEW.user_id, NEW.value_key)
        ON CONFLICT (id) DO UPDATE SET email_keys = (
            SELECT string_agg(value_key, E'\\x1f' ORDER BY position)
            FROM user_emails WHERE user_id = NEW.user_id);
        RETURN NULL;
    END IF;
    IF TG_OP = 'UPDATE' THEN
        uids := ARRAY[NEW.user_id];
    END IF;
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND OLD.user_id <> NEW.user_id) THEN
        uids := array_append(uids, OLD.user_id);
    END IF;
    FOREACH uid IN ARRAY uids
    LOOP
        SELECT string_agg(value_key, E'\\x1f' ORDER BY position) INTO joined
        FROM user_emails WHERE user_id = uid;
        IF joined IS NULL THEN
            DELETE FROM user_email_search WHERE id = uid;
        ELSE
            INSERT INTO user_email_search (id, email_keys) VALUES (uid, joined)
            ON CONFLICT (id) DO UPDATE SET email_keys = EXCLUDED.email_keys
            WHERE user_email_search.email_keys IS DISTINCT FROM EXCLUDED.email_keys;
        END IF;
    END LOOP;
    RETURN NULL;
END
$$
"""
EMAIL_TRIGGERS = [
    "CREATE TRIGGER user_emails_search_row AFTER INSERT OR UPDATE OR DELETE ON user_emails"
    " FOR EACH ROW EXECUTE FUNCTION user_email_search_sync()",
    "CREATE TRIGGER user_emails_search_truncate AFTER TRUNCATE ON user_emails"
    " FOR EACH STATEMENT EXECUTE FUNCTION user_email_search_sync()",
]
TRIGGERS = [
    "CREATE TRIGGER users_name_search_insert AFTER INSERT ON users"
    " FOR EACH ROW EXECUTE FUNCTION user_name_search_sync()",
    # Only when what the copy holds changed: a PATCH of other attributes runs no function.
    "CREATE TRIGGER users_name_search_update AFTER UPDATE ON users FOR EACH ROW"
    " WHEN (OLD.id IS DISTINCT FROM NEW.id"
    " OR OLD.user_name_key IS DISTINCT FROM NEW.user_name_key)"
    " EXECUTE FUNCTION user_name_search_sync()",
    "CREATE TRIGGER users_name_search_delete AFTER DELETE ON users"
    " FOR EACH ROW EXECUTE FUNCTION user_name_search_sync()",
    "CREATE TRIGGER users_name_search_truncate AFTER TRUNCATE ON users"
    " FOR EACH STATEMENT EXECUTE FUNCTION user_name_search_sync()",
]


def upgrade() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "user_name_search",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("user_name_key", sa.String(512), nullable=False),
    )
    if pg:
        op.execute(
            "INSERT INTO user_name_search (id, user_name_key) SELECT id, user_name_key FROM users"
        )
        op.execute(SYNC)
        for trigger in TRIGGERS:
            op.execute(trigger)
    op.create_table(
        "user_email_search",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("email_keys", sa.Text, nullable=False),
    )
    if pg:
        op.execute(
            "INSERT INTO user_email_search (id, email_keys) SELECT user_id,"
            " string_agg(value_key, E'\\x1f' ORDER BY position) FROM user_emails GROUP BY user_id"
        )
        op.execute(EMAIL_SYNC)
        for trigger in EMAIL_TRIGGERS:
            op.execute(trigger)
    op.create_index(
        "ix_user_email_search_trgm",
        "user_email_search",
        ["email_keys"],
        postgresql_using="gin",
        postgresql_ops={"email_keys": "gin_trgm_ops"},
        sqlite_where=sa.text("0"),
    )
    op.create_index(
        "ix_user_name_search_trgm",
        "user_name_search",
        ["user_name_key"],
        postgresql_using="gin",
        postgresql_ops={"user_name_key": "gin_trgm_ops"},
        sqlite_where=sa.text("0"),
    )
    op.drop_index("ix_users_user_name_key_trgm", table_name="users")


def downgrade() -> None:
    op.create_index(
        "ix_users_user_name_key_trgm",
        "users",
        ["user_name_key"],
        postgresql_using="gin",
        postgresql_ops={"user_name_key": "gin_trgm_ops"},
        sqlite_where=sa.text("0"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for name in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER users_name_search_{name} ON users")
        op.execute("DROP FUNCTION user_name_search_sync()")
        for name in ("row", "truncate"):
            op.execute(f"DROP TRIGGER user_emails_search_{name} ON user_emails")
        op.execute("DROP FUNCTION user_email_search_sync()")
    op.drop_table("user_email_search")
    op.drop_table("user_name_search")
