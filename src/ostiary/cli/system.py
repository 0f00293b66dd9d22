"""init, migrate, serve, config, vault."""

from __future__ import annotations

import os
import shutil
import tempfile

import typer

from ostiary.cli.common import console, database, fail, guard, print_json, settings
from ostiary.core.errors import OstiaryError
from ostiary.scim.registry import build_registry
from ostiary.store import bootstrap, migrate
from ostiary.store.errors import StoreError
from ostiary.web import logs

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)
vault_app = typer.Typer(help="The secrets vault.", no_args_is_help=True)


def init(
    bootstrap_key: bool = typer.Option(
        False, "--bootstrap-key", help="When no key exists yet, create one and print a curl."
    ),
) -> None:
    """Create the master key (if none), migrate the database, seed the vault. Idempotent."""
    s = settings()
    db = database(s)
    try:
        report = bootstrap.initialise(s, db)
    except (OstiaryError, StoreError) as exc:
        guard(exc)
    if report.created_master_key:
        console.print(f"created master key file {report.created_master_key} (mode 0600)")
    if report.migrated_from is not None or report.created_data_key:
        console.print(f"database ready at revision {migrate.head_revision()}")
    else:
        console.print("already initialised")
    if bootstrap_key:
        from ostiary.cli.quickstart import print_quickstart

        print_quickstart(s, db)


def migrate_cmd() -> None:
    """Upgrade the database schema to this version of Ostiary."""
    s = settings()
    db = database(s)
    before = migrate.current_revision(db)
    migrate.upgrade(db)
    console.print(f"migrated {before or 'empty'} -> {migrate.head_revision()}")


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default OSTIARY_HOST)."),
    port: int | None = typer.Option(None, help="Port (default OSTIARY_PORT)."),
    workers: int | None = typer.Option(None, help="Worker processes (default OSTIARY_WORKERS)."),
) -> None:
    """Serve HTTP with granian. Refuses an un-migrated database."""
    from granian import Granian
    from granian.constants import Interfaces

    s = settings()
    try:
        build_registry(s.scim_extensions)  # a bad SCIM extension declaration: one line, exit 2
    except OstiaryError as exc:
        guard(exc)
    db = database(s)
    try:
        db.ping()
        migrate.ensure_current(db)
    except StoreError as exc:
        fail(str(exc), 2)
    finally:
        db.dispose()
    count = workers or s.workers
    made = None
    if count > 1 and "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        # Set before the workers spawn so every one of them records into the same place.
        made = tempfile.mkdtemp(prefix="ostiary-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        Granian(
            "ostiary.web.app:create_app_from_env",
            factory=True,
            address=host or s.host,
            port=port or s.port,
            interface=Interfaces.ASGI,
            workers=count,
            log_enabled=True,
            log_dictconfig=logs.granian_log_config() if s.log_json else None,
        ).serve()
    finally:
        if made is not None:  # its counters died with the workers: nothing reads it again
            shutil.rmtree(made, ignore_errors=True)


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings with secrets masked."""
    print_json(settings().masked())


@vault_app.command("rotate-master")
def rotate_master() -> None:
    """Re-wrap every data key under a new master key, without downtime."""
    s = settings()
    try:
        changed = bootstrap.rotate_master(s, database(s))
    except OstiaryError as exc:
        guard(exc)
    console.print(f"re-wrapped {changed} data key(s) under the new master key")
