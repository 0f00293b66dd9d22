"""Schema upgrades with Alembic, driven from code so an installed package can migrate."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from ostiary.store.db import Database
from ostiary.store.errors import NotMigrated

MIGRATIONS = Path(__file__).parent / "migrations"


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, target: str = "head") -> None:
    cfg = _config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, target)


def ensure_current(db: Database) -> None:
    current, head = current_revision(db), head_revision()
    if current != head:
        have = current or "an empty schema"
        raise NotMigrated(
            f"the database at {db.engine.url.render_as_string(hide_password=True)} has "
            f"{have}, this Ostiary needs revision {head}: run 'ostiary migrate'"
        )
