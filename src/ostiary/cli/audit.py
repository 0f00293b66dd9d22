"""``ostiary audit``: checkpoint, verify, search, export, prune, stream.

``verify`` exits 0 when the log is intact, 1 when it found tampering (naming the first
event concerned), 2 on a usage or configuration error.
"""

from __future__ import annotations

import getpass
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import typer

from ostiary import __version__
from ostiary.audit.checkpoint import CheckpointVerifier
from ostiary.audit.errors import AuditError
from ostiary.audit.events import Actor
from ostiary.audit.ocsf import to_ocsf
from ostiary.audit.transport import read_witness
from ostiary.cli.common import console, database, err_console, fail, print_json, settings
from ostiary.core.clock import SystemClock
from ostiary.core.crypto.vault import Vault
from ostiary.core.errors import OstiaryError
from ostiary.core.settings import Settings
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.audit import AuditQuery, AuditReader
from ostiary.store.repositories.audit_integrity import Integrity, prune
from ostiary.store.repositories.audit_outbox import (
    SinkCursors,
    checkpoint_and_witness,
    checkpoint_if_new,
    configured_sinks,
    deliver_once,
)

app = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")


def parse_when(value: str | None, name: str) -> datetime | None:
    """An ISO 8601 date or date-time; a date-time without a zone is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{name}: not an ISO 8601 date or date-time: {value!r}", 2)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@app.command()
def checkpoint(as_json: bool = JSON_OPT) -> None:
    """Sign a checkpoint of the log now and copy it to the configured witnesses."""
    s = settings()
    db = database(s)
    try:
        checkpoint_id, cp, errors = checkpoint_and_witness(
            db, bootstrap.open_vault(s, db), s, SystemClock().now()
        )
    except OstiaryError as exc:
        fail(str(exc))
    if as_json:
        print_json({"id": checkpoint_id, **cp.as_dict(), "witness_errors": errors})
    else:
        console.print(
            f"checkpoint #{checkpoint_id}: {cp.tree_size} events, root {cp.root_hash.hex()}",
            highlight=False,
        )
    for error in errors:
        err_console.print(f"warning: {error}", markup=False, highlight=False)


@app.command()
def verify(
    witness: Path | None = typer.Option(
        None, "--witness", help="A witness file of checkpoints (JSON lines) to check against."
    ),
    public_key: Path | None = typer.Option(
        None, "--public-key", help="PEM public key to trust instead of the vault's key."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Recompute the tree, check every checkpoint, name the first tampered event."""
    s = settings()
    db = database(s)
    try:
        witnessed = read_witness(witness) if witness else []
        key = CheckpointVerifier.from_pem(public_key.read_bytes()) if public_key else None
    except (OSError, ValueError, AuditError) as exc:
        fail(str(exc), 2)
    started = time.perf_counter()
    with db.read() as conn:
        integrity = Integrity(conn, bootstrap.open_vault(s, db))
        report = integrity.verify(witnessed, key)
    elapsed = time.perf_counter() - started
    if as_json:
        print_json({**report.as_dict(), "seconds": round(elapsed, 3)})
    elif report.ok:
        console.print(
            f"ok: {report.events} events, tree size {report.tree_size}, root "
            f"{report.root_hash.hex()}, {report.checkpoints_checked} checkpoint(s) "
            f"match ({elapsed:.2f}s)",
            highlight=False,
        )
    else:
        first = report.problems[0]
        err_console.print(f"TAMPERED: {first.message}", markup=False, highlight=False)
        for problem in report.problems[1:10]:
            err_console.print(f"  also: {problem.message}", markup=False, highlight=False)
    if not report.ok:
        raise typer.Exit(1)


def _query(
    actor: str | None,
    target: str | None,
    action: str | None,
    outcome: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    cursor: int | None,
) -> AuditQuery:
    return AuditQuery(
        actor=actor,
        target=target,
        action=action,
        outcome=outcome,
        since=parse_when(since, "--since"),
        until=parse_when(until, "--until"),
        after_seq=cursor,
        limit=limit,
    )


ACTOR = typer.Option(None, "--actor", help="Actor id (key id, user id, 'cli', ...).")
TARGET = typer.Option(None, "--target", help="Target id.")
ACTION = typer.Option(None, "--action", help="Exact action, or a prefix like 'scim.user.*'.")
OUTCOME = typer.Option(None, "--outcome", help="success, failure or denied.")
SINCE = typer.Option(None, "--since", help="ISO date/time, inclusive.")
UNTIL = typer.Option(None, "--until", help="ISO date/time, exclusive.")


@app.command()
def search(
    actor: str | None = ACTOR,
    target: str | None = TARGET,
    action: str | None = ACTION,
    outcome: str | None = OUTCOME,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    limit: int = typer.Option(50, "--limit", min=1, max=1000),
    cursor: int | None = typer.Option(None, "--cursor", help="From a previous page."),
    as_json: bool = JSON_OPT,
) -> None:
    """Find events, oldest first, a page at a time."""
    q = _query(actor, target, action, outcome, since, until, limit, cursor)
    with database().read() as conn:
        events, next_cursor = AuditReader(conn).search(q)
    if as_json:
        print_json({"events": events, "next_cursor": next_cursor})
        return
    for e in events:
        console.print(
            f"{e['seq']:>8} {e['time']} {e['action']:<28} {e['outcome']:<8} "
            f"{e['actor'].get('kind')}:{e['actor'].get('id')} -> "
            f"{e['target'].get('type') or '-'}:{e['target'].get('id') or '-'}",
            markup=False,
            highlight=False,
        )
    if next_cursor is not None:
        console.print(f"more: --cursor {next_cursor}", highlight=False)


@app.command()
def export(
    fmt: str = typer.Option("jsonl", "--format", help="jsonl or ocsf (both JSON lines)."),
    actor: str | None = ACTOR,
    target: str | None = TARGET,
    action: str | None = ACTION,
    outcome: str | None = OUTCOME,
    since: str | None = SINCE,
    until: str | None = UNTIL,
    output: Path | None = typer.Option(None, "--output", "-o", help="File (default stdout)."),
) -> None:
    """Write matching events as JSON Lines, as stored or as OCSF events."""
    if fmt not in {"jsonl", "ocsf"}:
        fail("--format must be jsonl or ocsf", 2)
    q = _query(actor, target, action, outcome, since, until, 1000, None)
    out = output.open("wb") if output else sys.stdout.buffer
    count = 0
    try:
        db = database()
        while True:
            with db.read() as conn:
                events, cursor = AuditReader(conn).search(q)
            for e in events:
                doc: dict[str, Any] = to_ocsf(e, __version__) if fmt == "ocsf" else e
                out.write(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS) + b"\n")
                count += 1
            if cursor is None:
                break
            q = AuditQuery(**{**q.__dict__, "after_seq": cursor})
    finally:
        if output:
            out.close()
    if output:
        console.print(f"exported {count} event(s) to {output}", highlight=False)


@app.command("prune")
def prune_cmd(
    before: str = typer.Option(..., "--before", help="Delete events older than this date."),
    yes: bool = typer.Option(False, "--yes", help="Do not ask for confirmation."),
) -> None:
    """Delete old events that a signed checkpoint covers; what remains still verifies."""
    when = parse_when(before, "--before")
    assert when is not None
    if not yes and not typer.confirm(f"Delete audit events before {when.isoformat()}?"):
        raise typer.Exit(1)
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    try:
        with db.begin() as conn:
            floor = SinkCursors(conn).slowest() if configured_sinks(s) else None
            deleted, boundary = prune(conn, vault, when, floor, SystemClock().now())
    except OstiaryError as exc:
        fail(str(exc))
    if deleted == 0:
        console.print(
            "nothing to prune: no signed checkpoint covers events before that date "
            "(run 'ostiary audit checkpoint' first)",
            highlight=False,
        )
    else:
        console.print(
            f"pruned {deleted} event(s); the log now starts at position {boundary}", highlight=False
        )


@app.command("public-key")
def public_key_cmd() -> None:
    """Print the audit signing key's public half (PEM), for outside verifiers."""
    s = settings()
    db = database(s)
    with db.begin() as conn:
        print(Integrity(conn, bootstrap.open_vault(s, db)).public_key().pem(), end="")


@app.command()
def worker(
    once: bool = typer.Option(False, "--once", help="One delivery pass, then exit."),
    poll: float = typer.Option(1.0, "--poll", help="Seconds between passes."),
) -> None:
    """Stream events to the configured sinks and write periodic checkpoints."""
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    try:
        sinks = configured_sinks(s)
    except AuditError as exc:
        fail(str(exc), 2)
    clock = SystemClock()
    last_checkpoint = 0.0
    while True:
        delivered = deliver_once(db, sinks, clock.now(), s.audit_sink_batch)
        if once or clock.monotonic() - last_checkpoint >= s.audit_checkpoint_interval_seconds:
            _periodic_checkpoint(db, vault, s, clock)
            last_checkpoint = clock.monotonic()
        if once:
            print_json({"delivered": delivered})
            return
        if not any(delivered.values()):
            time.sleep(poll)


def _periodic_checkpoint(db: Database, vault: Vault, s: Settings, clock: SystemClock) -> None:
    try:
        done = checkpoint_if_new(db, vault, s, clock.now())
    except OstiaryError as exc:
        err_console.print(f"checkpoint failed: {exc}", markup=False, highlight=False)
        return
    for error in done[2] if done else []:
        err_console.print(f"warning: {error}", markup=False, highlight=False)


def cli_actor() -> Actor:
    """The actor for a command run on the server (``ostiary keys revoke`` ...): the local
    operating-system user, authenticated by having shell access to the deployment."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return Actor(kind="cli", id=user, auth="local")
