"""The schema, as SQLAlchemy Core tables. Migrations in ``migrations/versions`` create it;
a test checks the two agree on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
)
from sqlalchemy.dialects.postgresql import JSONB

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)

Json = JSON().with_variant(JSONB(), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """Timestamps are UTC everywhere. SQLite keeps no zone, so reads get it back here and
    code never meets a naive datetime."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


Ts = UtcDateTime()

vault_data_keys = Table(
    "vault_data_keys",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("master_kid", String(64), nullable=False),
    Column("wrapped", LargeBinary, nullable=False),
    Column("created_at", Ts, nullable=False),
)

vault_secrets = Table(
    "vault_secrets",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("sealed", Text, nullable=False),
    Column("created_at", Ts, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("user_name", String(512), nullable=False),
    Column("user_name_key", String(512), nullable=False, unique=True),
    Column("external_id", String(512)),
    Column("display_name", String(512)),
    Column("given_name", String(256)),
    Column("family_name", String(256)),
    Column("active", Boolean, nullable=False),
    Column("doc", Json, nullable=False),
    Column("password_hash", String(256)),
    Column("version", Integer, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    Index("ix_users_external_id", "external_id"),
)

user_emails = Table(
    "user_emails",
    metadata,
    Column("user_id", String(36), ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("value", String(512), nullable=False),
    Column("value_key", String(512), nullable=False),
    Column("type", String(64)),
    Column("primary", Boolean, nullable=False, default=False),
    # One row per position (migration 0020): the search's owner count relies on it.
    Index("uq_user_emails_user_id_position", "user_id", "position", unique=True),
    Index("ix_user_emails_value_key", "value_key"),
)

groups = Table(
    "groups",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("display_name", String(512), nullable=False),
    Column("display_name_key", String(512), nullable=False),
    Column("external_id", String(512)),
    Column("doc", Json, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("updated_at", Ts, nullable=False),
    Index("ix_groups_display_name_key", "display_name_key"),
    Index("ix_groups_external_id", "external_id"),
)

group_members = Table(
    "group_members",
    metadata,
    Column("group_id", String(36), ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True),
    Column("member_id", String(36), primary_key=True),
    Column("member_type", String(8), nullable=False),
    Index("ix_group_members_member_id", "member_id"),
)

provisioning_keys = Table(
    "provisioning_keys",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("scopes", Json, nullable=False),
    Column("status", String(16), nullable=False),
    Column("created_by", String(200)),
    Column("created_at", Ts, nullable=False),
    Column("expires_at", Ts, nullable=False),
    Column("disabled_at", Ts),
    Column("revoked_at", Ts),
    Column("last_used_at", Ts),
    Column("last_used_ip", String(64)),
    Column("last_used_user_agent", String(512)),
)

provisioning_key_secrets = Table(
    "provisioning_key_secrets",
    metadata,
    Column(
        "key_id",
        String(16),
        ForeignKey("provisioning_keys.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("version", Integer, primary_key=True),
    Column("secret_hmac", LargeBinary(32), nullable=False),
    Column("last4", String(4), nullable=False),
    Column("created_at", Ts, nullable=False),
    Column("not_after", Ts),
)
