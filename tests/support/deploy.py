"""A real, initialised deployment for tests: migrated database, vault, pepper."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from ostiary.core.clock import Clock, SystemClock
from ostiary.core.settings import Settings
from ostiary.keys.lifecycle import KeyPolicy, NewKey, create_key
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.keys import KeyRepository


def new_master_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


@dataclass
class Deployment:
    settings: Settings
    db: Database

    def audit_verifies(self) -> bool:
        """Whether the audit trail verifies (RFC 9162 tree, chain, checkpoints)."""
        from ostiary.store.repositories.audit_integrity import Integrity

        vault = bootstrap.open_vault(self.settings, self.db)
        with self.db.read() as conn:
            return Integrity(conn, vault).verify().ok

    def pepper(self) -> bytes:
        return bootstrap.load_pepper(self.db, bootstrap.open_vault(self.settings, self.db))

    def make_key(
        self,
        scopes: list[str] | None = None,
        *,
        name: str = "test",
        lifetime: timedelta | None = None,
        clock: Clock | None = None,
    ) -> NewKey:
        new = create_key(
            name=name,
            scopes=scopes or ["users:read", "users:write", "groups:read", "groups:write"],
            now=(clock or SystemClock()).now(),
            pepper=self.pepper(),
            policy=KeyPolicy(),
            lifetime=lifetime,
        )
        with self.db.begin() as conn:
            KeyRepository(conn).add(new.record)
        return new


def deploy(database_url: str, tmp: Path, **overrides: object) -> Deployment:
    settings = Settings(
        database_url=database_url,
        master_key_file=tmp / "master.key",
        issuer="http://testserver",
        **({"outbox_worker": False} | overrides),  # type: ignore[arg-type]
    )
    db = Database(settings.database_url, pool_size=4)
    bootstrap.initialise(settings, db)
    return Deployment(settings=settings, db=db)


def downgrade(db: Database, revision: str) -> None:
    """Migrate ``db`` down to ``revision`` (tests of a migration's upgrade of old data)."""
    from alembic import command

    from ostiary.store import migrate

    cfg = migrate._config()
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
