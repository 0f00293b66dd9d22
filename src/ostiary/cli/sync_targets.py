"""``ostiary sync targets``: downstream SCIM applications Ostiary provisions, change by change.

Registering a target makes every SCIM write of a User or Group queue a push to it through
the outbox (``ostiary serve`` delivers). ``backfill`` reconciles a new target with
everything Ostiary holds, using the same mapping the live push uses.
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from ostiary.cli.common import console, database, fail, print_json, settings
from ostiary.core.clock import SystemClock
from ostiary.scim.users import render_user
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.provisioning import (
    ProvisioningRepository,
    group_id_named,
    snapshot,
)
from ostiary.sync.auth import BearerAuth
from ostiary.sync.client import ScimClient
from ostiary.sync.config import SourceConfig, SyncConfig, TargetConfig
from ostiary.sync.errors import SafetyRefused, SyncError
from ostiary.sync.mapping import ostiary_mapping
from ostiary.sync.runner import Agent
from ostiary.sync.sources import flatten
from ostiary.web.workers.provision import resolve_token

app = typer.Typer(help="Downstream SCIM targets Ostiary pushes changes to.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")


@dataclass
class StoreSource:
    """Ostiary's own database as the source of truth (``type = "ostiary"`` without a url)."""

    db: Database
    base: str
    group_id: str | None = None

    def records(self) -> list[dict[str, Any]]:
        with self.db.read() as conn:
            rows = snapshot(conn, self.group_id)
        out = []
        for user, groups in rows:
            record = flatten(render_user(user, self.base))
            record["groups"] = groups
            out.append(record)
        return out

    def fingerprint(self) -> str:
        return ""  # watch re-plans on its interval


def _token_ref(env: str | None, file: Path | None, command: str | None) -> dict[str, Any] | None:
    given = [x for x in (env, file, command) if x]
    if len(given) > 1:
        fail("give one of --token-env, --token-file, --token-command, --token-stdin", 2)
    if env:
        return {"env": env}
    if file:
        return {"file": str(file.resolve())}
    if command:
        return {"command": shlex.split(command)}
    return None


def _show(rows: list[dict[str, Any]], columns: tuple[str, ...], as_json: bool) -> None:
    if as_json:
        print_json(rows)
        return
    table = Table(*columns)
    for r in rows:
        table.add_row(*("" if r[c] is None else str(r[c]) for c in columns))
    console.print(table)


@app.command("add")
def add(
    name: str = typer.Argument(..., help="A short name, e.g. 'slack'."),
    url: str = typer.Option(..., "--url", help="The target's SCIM base URL (.../scim/v2)."),
    token_env: str | None = typer.Option(None, "--token-env", help="Bearer token from $NAME."),
    token_file: Path | None = typer.Option(None, "--token-file", help="Bearer token file."),
    token_command: str | None = typer.Option(
        None, "--token-command", help="A secret-manager command printing the token."
    ),
    token_stdin: bool = typer.Option(
        False, "--token-stdin", help="Read the token from stdin and store it sealed."
    ),
    group: str | None = typer.Option(None, "--group", help="Push only this group's members."),
    delete_users: bool = typer.Option(
        False, "--delete-users", help="Delete downstream users instead of deactivating them."
    ),
) -> None:
    """Register a target; from now on every User/Group write is pushed to it."""
    if not url.startswith(("https://", "http://")):
        fail("--url must be an http(s) URL", 2)
    ref = _token_ref(token_env, token_file, token_command)
    token = sys.stdin.readline().strip() if token_stdin else None
    if token_stdin and (ref is not None or not token):
        fail("--token-stdin needs a token on stdin and no other --token-* option", 2)
    s = settings()
    db = database(s)
    with db.begin() as conn:
        repo = ProvisioningRepository(conn, bootstrap.open_vault(s, db))
        if repo.by_name(name) is not None:
            fail(f"a target named {name!r} exists already", 2)
        group_id = None
        if group is not None:
            group_id = group_id_named(conn, group)
            if group_id is None:
                fail(f"no group named {group!r}", 2)
        repo.add(
            name,
            url.rstrip("/"),
            SystemClock().now(),
            token_ref=ref,
            token=token,
            group_id=group_id,
            delete_users=delete_users,
        )
    console.print(f"target {name} -> {url}; run `ostiary sync targets backfill {name}` once")


@app.command("list")
def list_targets(as_json: bool = JSON_OPT) -> None:
    s = settings()
    with database(s).read() as conn:
        targets = ProvisioningRepository(conn).all()
    rows: list[dict[str, Any]] = [
        {
            "name": t.name,
            "url": t.url,
            "credential": "sealed"
            if t.token_sealed
            else (next(iter(t.token_ref)) if t.token_ref else "none"),
            "group_id": t.group_id,
            "delete_users": t.delete_users,
            "enabled": t.enabled,
        }
        for t in targets
    ]
    _show(rows, ("name", "url", "credential", "group_id", "delete_users", "enabled"), as_json)


@app.command("remove")
def remove(name: str) -> None:
    """Forget a target (messages still queued for it are dropped as undeliverable)."""
    with database().begin() as conn:
        if not ProvisioningRepository(conn).remove(name):
            fail(f"no target {name!r}")
    console.print(f"removed {name}")


@app.command("disable")
def disable(name: str) -> None:
    """Stop queueing pushes to a target (queued ones are dropped as undeliverable)."""
    _set_enabled(name, False)


@app.command("enable")
def enable(name: str) -> None:
    """Queue pushes again; run `backfill` for what changed while it was disabled."""
    _set_enabled(name, True)


def _set_enabled(name: str, enabled: bool) -> None:
    with database().begin() as conn:
        if not ProvisioningRepository(conn).set_enabled(name, enabled):
            fail(f"no target {name!r}")
    console.print(f"{name} {'enabled' if enabled else 'disabled'}")


@app.command("status")
def status(as_json: bool = JSON_OPT) -> None:
    """Pending, delivered and dead pushes per target."""
    with database().read() as conn:
        repo = ProvisioningRepository(conn)
        targets, counts = repo.all(), repo.counts()
    empty = {"pending": 0, "delivered": 0, "dead": 0}
    rows: list[dict[str, Any]] = [
        {"name": t.name, "enabled": t.enabled, **(counts.get(t.id) or empty)} for t in targets
    ]
    _show(rows, ("name", "enabled", "pending", "delivered", "dead"), as_json)


@app.command("backfill")
def backfill(
    name: str,
    apply: bool = typer.Option(False, "--apply", help="Carry out the plan (default: show it)."),
    allow_mass_deprovision: bool = typer.Option(False, "--allow-mass-deprovision"),
    state_dir: Path = typer.Option(Path("var/sync"), "--state-dir"),
) -> None:
    """Full reconciliation of one target with Ostiary's store (plan, or --apply)."""
    from ostiary.cli.sync import render_plan

    s = settings()
    db = database(s)
    with db.read() as conn:
        repo = ProvisioningRepository(conn, bootstrap.open_vault(s, db))
        target = repo.by_name(name)
        if target is None:
            fail(f"no target {name!r}", 2)
        try:
            token = resolve_token(repo, target)
        except SyncError as exc:
            fail(str(exc), 2)
    cfg = SyncConfig(
        source=SourceConfig("ostiary", {}),
        target=TargetConfig(url=target.url, auth="none"),
        mapping=ostiary_mapping(),
    )
    agent = Agent(cfg, state_dir)
    agent._client = ScimClient(target.url, auth=BearerAuth(token) if token else None)
    agent._source = StoreSource(db, f"{s.issuer}/scim/v2", target.group_id)
    try:
        journal = agent.journal()
        plan = agent.plan(delete=target.delete_users, journal=journal)
        render_plan(plan)
        if apply and not plan.empty:
            summary = agent.apply(plan, journal, allow_mass_deprovision=allow_mass_deprovision)
            console.print(
                "applied: " + " ".join(f"{k}={v}" for k, v in sorted(summary.done.items()))
            )
            if summary.failures:
                fail("; ".join(summary.failures[:5]))
    except SafetyRefused as exc:
        fail(str(exc), 3)
    except SyncError as exc:
        fail(str(exc))
    finally:
        agent.close()
