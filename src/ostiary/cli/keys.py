"""``ostiary keys``: provisioning keys from the command line (each command has --json)."""

from __future__ import annotations

import sys
import time

import typer
from rich.table import Table

from ostiary.cli.common import console, fail, print_json
from ostiary.cli.keys_common import (
    binding_options,
    cli_actor,
    context,
    duration,
    required_duration,
)
from ostiary.core.errors import Conflict, NotFound
from ostiary.keys import format as key_format
from ostiary.keys.errors import PolicyViolation
from ostiary.keys.models import KeyStatus
from ostiary.web.keys import approvals as approvals_mod
from ostiary.web.keys.leaks import report_leak as do_report_leak
from ostiary.web.keys.scheduler import run_due
from ostiary.web.keys.service import key_summary

app = typer.Typer(help="Provisioning keys.", no_args_is_help=True)
approvals_app = typer.Typer(help="Operations held for a second administrator.")
app.add_typer(approvals_app, name="approvals")
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")


def _print(summary: dict[str, object], as_json: bool) -> None:
    if as_json:
        print_json(summary)
        return
    for k, v in summary.items():
        console.print(f"{k:>20}: {v}", markup=False, highlight=False)


@app.command()
def create(
    name: str = typer.Option(..., "--name", help="What this key is for (e.g. 'hr')."),
    scope: list[str] = typer.Option(..., "--scope", help="Repeat for each scope."),
    expires_in: str = typer.Option("90d", "--expires-in", help="Lifetime, e.g. 30d."),
    description: str = typer.Option("", "--description"),
    require_dpop: bool = typer.Option(False, "--require-dpop", help="Refuse bearer use."),
    allow_cidr: list[str] = typer.Option([], "--allow-cidr", help="Allowed source network."),
    attr: list[str] = typer.Option([], "--attr", help="Writable attributes: User=a,b"),
    rotate_every: str | None = typer.Option(None, "--rotate-every", help="e.g. 30d"),
    overlap: str = typer.Option("24h", "--rotation-overlap"),
    deliver_to: str | None = typer.Option(None, "--deliver-to", help="webhook URL or file"),
    as_json: bool = JSON_OPT,
    owner: str | None = typer.Option(
        None, "--owner", help="USER_ID_OR_USERNAME: deprovisioning them revokes the key."
    ),
) -> None:
    """Create a key. The secret is printed once and never stored."""
    ctx = context()
    try:
        binding = binding_options(
            ctx.clock.now(), require_dpop, allow_cidr, attr, rotate_every, overlap, deliver_to
        )
        new = ctx.service.create(
            cli_actor(),
            name=name,
            scopes=scope,
            lifetime=duration(expires_in, "--expires-in"),
            description=description,
            binding=binding,
            owner=owner,
        )
    except PolicyViolation as exc:
        fail(str(exc), 2)
    if as_json:
        print_json({**key_summary(new.record), "key": new.token})
        return
    console.print(f"Created provisioning key [bold]{new.record.id}[/] ({name}).")
    console.print("Copy it now; it is shown only once:")
    print(new.token)


@app.command("list")
def list_keys(as_json: bool = JSON_OPT) -> None:
    """List keys (never their secrets)."""
    rows = [key_summary(r) for r in context().service.all_keys()]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "name", "key", "scopes", "status", "expires", "last used")
    for r in rows:
        table.add_row(
            r["id"],
            r["name"],
            r["display"],
            " ".join(r["scopes"]),
            r["status"],
            r["expires_at"],
            r["last_used_at"] or "never",
        )
    console.print(table)


@app.command()
def show(key_id: str, as_json: bool = JSON_OPT) -> None:
    """Show one key's metadata."""
    try:
        record = context().service.get(key_id)
    except NotFound as exc:
        fail(str(exc))
    _print(key_summary(record), as_json)


@app.command()
def rotate(
    key_id: str,
    overlap: str = typer.Option("24h", "--overlap", help="How long the old secret works."),
    as_json: bool = JSON_OPT,
) -> None:
    """Issue a successor secret; both work during the overlap, then only the new one."""
    ctx = context()
    try:
        rot, record = ctx.service.rotate(
            cli_actor(), key_id, required_duration(overlap, "--overlap")
        )
    except (NotFound, PolicyViolation) as exc:
        fail(str(exc))
    if as_json:
        print_json({**key_summary(record), "key": rot.token})
        return
    console.print(
        f"Rotated {key_id} to version {rot.secret.version}; the previous secret "
        f"works for {overlap}. New key (shown once):"
    )
    print(rot.token)


def _set_status(key_id: str, status: KeyStatus, as_json: bool) -> None:
    try:
        record = context().service.set_status(cli_actor(), key_id, status)
    except (NotFound, PolicyViolation) as exc:
        fail(str(exc))
    if as_json:
        print_json(key_summary(record))
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


@app.command("set")
def set_binding(
    key_id: str,
    require_dpop: bool = typer.Option(False, "--require-dpop/--no-require-dpop"),
    allow_cidr: list[str] = typer.Option([], "--allow-cidr"),
    attr: list[str] = typer.Option([], "--attr"),
    rotate_every: str | None = typer.Option(None, "--rotate-every"),
    overlap: str = typer.Option("24h", "--rotation-overlap"),
    deliver_to: str | None = typer.Option(None, "--deliver-to"),
    as_json: bool = JSON_OPT,
) -> None:
    """Replace a key's binding (DPoP, CIDRs, attributes, scheduled rotation)."""
    ctx = context()
    try:
        record = ctx.service.get(key_id)
        options = (require_dpop, allow_cidr, attr, rotate_every, overlap, deliver_to)
        binding = binding_options(ctx.clock.now(), *options, base=record.binding)
        record = ctx.service.update_binding(cli_actor(), key_id, binding)
    except (NotFound, PolicyViolation) as exc:
        fail(str(exc))
    _print(key_summary(record), as_json)


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


@app.command("report-leak")
def report_leak(
    token: str = typer.Argument(..., help="The leaked key, or '-' to read it from stdin."),
    url: str | None = typer.Option(None, "--url", help="Where it was found."),
    as_json: bool = JSON_OPT,
) -> None:
    """Report a leaked key: if it is live it is revoked at once and its owner notified."""
    value = sys.stdin.readline().strip() if token == "-" else token
    ctx = context()
    result = do_report_leak(ctx.service, value, cli_actor(), source="cli", url=url)
    if as_json:
        print_json(result)
    elif not result["known"]:
        console.print("not a key of this deployment; nothing revoked")
    else:
        state = "revoked now" if result["revoked"] else "was already revoked"
        console.print(f"key {result['key_id']} {state}")
    if not result["known"]:
        raise typer.Exit(1)


@app.command("run-scheduler")
def run_scheduler(
    once: bool = typer.Option(False, "--once", help="One pass, then exit."),
    interval: float = typer.Option(60.0, "--interval", help="Seconds between passes."),
    as_json: bool = JSON_OPT,
) -> None:
    """Perform due scheduled rotations and expiry warnings."""
    ctx = context()
    # Warnings are queued in the outbox; serve's outbox worker delivers them.
    while True:
        report = run_due(ctx.service, ctx.webhook_secret).as_dict()
        if as_json:
            print_json(report)
        else:
            console.print(
                f"rotated {len(report['rotated'])}, failed "
                f"{len(report['failed'])}, warned {len(report['warned'])}"
            )
        if once:
            return
        time.sleep(interval)


@app.command("webhook-secret")
def show_webhook_secret(as_json: bool = JSON_OPT) -> None:
    """Print the secret that signs key webhooks (hex), for the receiver to verify with."""
    value = context().webhook_secret().hex()
    if as_json:
        print_json({"webhook_secret": value})
    else:
        print(value)


@approvals_app.command("list")
def approvals_list(as_json: bool = JSON_OPT) -> None:
    rows = approvals_mod.list_approvals(context().db, "pending")
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"{r['id']}  {r['kind']}  key {r['key_id']}  {r['requested_at']}")


def _decide(approval_id: str, approve: bool, as_json: bool) -> None:
    try:
        result = approvals_mod.decide(context(), approval_id, approve, cli_actor())
    except (NotFound, Conflict) as exc:
        fail(str(exc))
    if as_json:
        print_json(result)
    else:
        console.print(f"approval {approval_id}: {result['status']}")


@approvals_app.command("approve")
def approvals_approve(approval_id: str, as_json: bool = JSON_OPT) -> None:
    _decide(approval_id, True, as_json)


@approvals_app.command("deny")
def approvals_deny(approval_id: str, as_json: bool = JSON_OPT) -> None:
    _decide(approval_id, False, as_json)
