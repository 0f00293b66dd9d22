"""user_emails: one row per (user, position), enforced (replaces the user_id index)

A user's addresses are written at distinct positions (their index in the document's
emails, ``repositories.users._email_rows``). The SCIM search counts the users with a
matching address as the matching rows with no earlier matching row of the same user
(``Translator.owner_count``), which is exact only while a user never holds two rows at
one position: this index makes that a rule. It serves what ``ix_user_emails_user_id``
served (a user's rows, the cascade on delete), so a write maintains as many indexes as
before.

Revision ID: 0020
Revises: 0019
"""

from __future__ import annotations

from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "uq_user_emails_user_id_position", "user_emails", ["user_id", "position"], unique=True
    )
    op.drop_index("ix_user_emails_user_id", table_name="user_emails")


def downgrade() -> None:
    op.create_index("ix_user_emails_user_id", "user_emails", ["user_id"])
    op.drop_index("uq_user_emails_user_id_position", table_name="user_emails")
