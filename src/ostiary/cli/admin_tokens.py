"""``ostiary admin-tokens``: scoped, expiring bearer tokens for the admin API.

Only the local operator (shell access to the deployment's configuration and master key)
mints them; each carries admin scopes (what it may do) and provisioning scopes (the
ceiling of the keys it may mint or rotate)."""

from __future__ import annotations

import typer

from ostiary.audit.events import AuditEvent
from ostiary.cli.common import console, fail, print_json
from ostiary.cli.keys_common import cli_actor, context, required_duration
from ostiary.core.clock import as_utc
from ostiary.keys import format as key_format
from ostiary.keys.admin_tokens import AdminToken, create_admin_token
from ostiary.keys.errors import PolicyViolation
from ostiary.store.repositories.admin_tokens import AdminTokenRepository
from ostiary.store.repositories.audit import AuditLog

app = typer.Typer(help="Admin API tokens (ost_at_...).", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")


def summary(t: AdminToken) -> dict[str, object]:
    return {
        "id": t.id,
        "name": t.name,
        "display": key_format.display(t.id, t.last4, key_format.ADMIN_PREFIX),
        "scopes": sorted(t.scopes),
        "status": t.status.value,
        "created_at": as_utc(t.created_at).isoformat(),
        "expires_at": as_utc(t.expires_at).isoformat(),
        "created_by": t.created_by,
    }


@app.command()
def create(
    name: str = typer.Option(..., "--name"),
    scope: list[str] = typer.Option(
        ...,
        "--scope",
        help="keys:read, keys:write, keys:revoke, approvals:decide, audit:read, or a key scope",
    ),
    expires_in: str = typer.Option("30d", "--expires-in"),
    as_json: bool = JSON_OPT,
) -> None:
    """Create an admin API token; it is printed once."""
    ctx = context()
    actor = cli_actor()
    now = ctx.clock.now()
    try:
        token, record = create_admin_token(
            name=name,
            scopes=scope,
            now=now,
            pepper=ctx.pepper,
            lifetime=required_duration(expires_in, "--expires-in"),
            created_by=f"cli:{actor.id}",
        )
    except PolicyViolation as exc:
        fail(str(exc), 2)
    with ctx.db.begin() as conn:
        AdminTokenRepository(conn).add(record)
        AuditLog(conn).append(
            AuditEvent(
                action="admin_token.create",
                actor=actor,
                target_type="AdminToken",
                target_id=record.id,
                after=summary(record),
            ),
            now,
        )
    if as_json:
        print_json({**summary(record), "token": token})
        return
    console.print(f"Created admin token [bold]{record.id}[/]; shown only once:")
    print(token)


@app.command("list")
def list_tokens(as_json: bool = JSON_OPT) -> None:
    with context().db.read() as conn:
        rows = [summary(t) for t in AdminTokenRepository(conn).list()]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"{r['id']}  {r['name']}  {r['status']}  {' '.join(r['scopes'])}")  # type: ignore[arg-type]


@app.command()
def revoke(token_id: str, as_json: bool = JSON_OPT) -> None:
    ctx = context()
    actor = cli_actor()
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        if not AdminTokenRepository(conn).revoke(token_id, now):
            fail(f"no active admin token {token_id}")
        AuditLog(conn).append(
            AuditEvent(
                action="admin_token.revoke",
                actor=actor,
                target_type="AdminToken",
                target_id=token_id,
            ),
            now,
        )
    if as_json:
        print_json({"id": token_id, "status": "revoked"})
    else:
        console.print(f"admin token {token_id} revoked")
