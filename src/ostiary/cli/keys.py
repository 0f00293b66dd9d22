"""``ostiary keys``: provisioning keys from the command line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import typer
from rich.table import Table

from ostiary.cli.common import console, database, fail, print_json, settings
from ostiary.core.clock import SystemClock, as_utc
from ostiary.core.durations import parse_duration
from ostiary.core.errors import NotFound
from ostiary.keys import format as key_format
from ostiary.keys.errors import PolicyViolation
from ostiary.keys.lifecycle import KeyPolicy, create_key
from ostiary.keys.models import KeyRecord, KeyStatus
from ostiary.store import bootstrap
from ostiary.store.repositories.keys import KeyRepository

app = typer.Typer(help="Provisioning keys.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")


def key_summary(record: KeyRecord) -> dict[str, Any]:
    current = max(record.secrets, key=lambda s: s.version) if record.secrets else None
    return {
        "id": record.id,
        "name": record.name,
        "display": key_format.display(record.id, current.last4 if current else "????"),
        "scopes": sorted(record.scopes),
        "status": record.status.value,
        "version": record.current_version,
        "created_at": as_utc(record.created_at).isoformat(),
        "expires_at": as_utc(record.expires_at).isoformat(),
        "last_used_at": as_utc(record.last_used_at).isoformat() if record.last_used_at else None,
        "created_by": record.created_by,
    }


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="What this key is for (e.g. 'hr')."),
    scope: list[str] = typer.Option(..., "--scope", help="Repeat for each scope."),
    expires_in: str = typer.Option("90d", "--expires-in", help="Lifetime, e.g. 30d."),
    description: str = typer.Option("", "--description"),
    as_json: bool = JSON_OPT,
) -> None:
    """Create a key. The secret is printed once and never stored."""
    s = settings()
    db = database(s)
    try:
        lifetime = parse_duration(expires_in)
    except ValueError as exc:
        fail(str(exc), 2)
    vault = bootstrap.open_vault(s, db)
    pepper = bootstrap.load_pepper(db, vault)
    policy = KeyPolicy(
        max_lifetime=timedelta(days=s.key_max_lifetime_days),
        default_lifetime=timedelta(days=s.key_default_lifetime_days),
    )
    try:
        new = create_key(
            name=name,
            scopes=scope,
            now=SystemClock().now(),
            pepper=pepper,
            policy=policy,
            lifetime=lifetime,
            created_by="cli",
            description=description,
        )
    except PolicyViolation as exc:
        fail(str(exc), 2)
    with db.begin() as conn:
        KeyRepository(conn).add(new.record)
    if as_json:
        print_json({**key_summary(new.record), "key": new.token})
        return
    console.print(f"Created provisioning key [bold]{new.record.id}[/] ({name}).")
    console.print("Copy it now; it is shown only once:")
    print(new.token)


@app.command("list")
def list_keys(as_json: bool = JSON_OPT) -> None:
    """List keys (never their secrets)."""
    with database().read() as conn:
        records = KeyRepository(conn).list()
    rows = [key_summary(r) for r in records]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "key", "scopes", "status", "expires")
    for r in rows:
        table.add_row(
            r["id"], r["name"], r["display"], " ".join(r["scopes"]), r["status"], r["expires_at"]
        )
    console.print(table)


@app.command()
def show(key_id: str, as_json: bool = JSON_OPT) -> None:
    """Show one key's metadata."""
    with database().read() as conn:
        record = KeyRepository(conn).get(key_id)
    if record is None:
        fail(f"no provisioning key {key_id}")
    summary = key_summary(record)
    if as_json:
        print_json(summary)
    else:
        for k, v in summary.items():
            console.print(f"{k:>13}: {v}")


def _set_status(key_id: str, status: KeyStatus, as_json: bool) -> None:
    db = database()
    with db.begin() as conn:
        repo = KeyRepository(conn)
        try:
            record = repo.require(key_id)
        except NotFound as exc:
            fail(str(exc))
        if record.status is KeyStatus.REVOKED:
            fail(f"key {key_id} is revoked; revocation is final")
        repo.set_status(key_id, status, SystemClock().now())
    if as_json:
        print_json({"id": key_id, "status": status.value})
    else:
        console.print(f"key {key_id} is now {status.value}")


@app.command()
def revoke(key_id: str, as_json: bool = JSON_OPT) -> None:
    """Revoke a key for good."""
    _set_status(key_id, KeyStatus.REVOKED, as_json)


@app.command()
def disable(key_id: str, as_json: bool = JSON_OPT) -> None:
    """Disable a key (reversible with enable)."""
    _set_status(key_id, KeyStatus.DISABLED, as_json)


@app.command()
def enable(key_id: str, as_json: bool = JSON_OPT) -> None:
    """Enable a disabled key."""
    _set_status(key_id, KeyStatus.ACTIVE, as_json)


@app.command()
def check(token: str, as_json: bool = JSON_OPT) -> None:
    """Validate a key's shape and checksum offline (no database): for secret scanners."""
    parsed = key_format.parse(token.strip())
    result = {"valid": parsed is not None, "key_id": parsed.key_id if parsed else None}
    if as_json:
        print_json(result)
    else:
        console.print("valid key format" if parsed else "not a valid Ostiary provisioning key")
    if parsed is None:
        raise typer.Exit(1)
