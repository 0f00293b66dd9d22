"""``ostiary signing-keys``: the OpenID Provider's signing keys."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from ostiary.audit.events import Actor
from ostiary.cli.common import console, database, fail, print_json, settings
from ostiary.core.clock import SystemClock
from ostiary.oidc.signing import ALGORITHMS, KeyState, SigningKey, emergency
from ostiary.store import bootstrap
from ostiary.store.repositories.signing_keys import SigningKeyRepository, maintain
from ostiary.web.oauth.keyring import policy_from
from ostiary.web.oauth.state import KEYRING_REFRESH_SECONDS

signing_app = typer.Typer(help="OpenID Provider signing keys.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")
CLI = Actor(kind="cli", id="ostiary", auth="local")


def _summary(key: SigningKey) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "kid": key.kid,
        "alg": key.alg,
        "state": key.state.value,
        "created_at": iso(key.created_at),
        "activated_at": iso(key.activated_at),
        "retired_at": iso(key.retired_at),
        "unpublish_at": iso(key.unpublish_at),
    }


def _print(keys: list[SigningKey], as_json: bool) -> None:
    rows = [_summary(k) for k in keys]
    if as_json:
        print_json(rows)
        return
    table = Table("kid", "alg", "state", "created", "activated", "unpublish at")
    for r in rows:
        table.add_row(
            r["kid"],
            r["alg"],
            r["state"],
            r["created_at"],
            r["activated_at"] or "",
            r["unpublish_at"] or "",
        )
    console.print(table)


@signing_app.command("list")
def list_keys(as_json: bool = JSON_OPT) -> None:
    """Every stored signing key and its state (next, active, retired)."""
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    with db.read() as conn:
        _print(SigningKeyRepository(conn, vault).all(), as_json)


@signing_app.command()
def rotate(
    compromised: bool = typer.Option(
        False, "--compromised", help="The active key leaked: replace it now and unpublish it."
    ),
    alg: str = typer.Option("", "--alg", help="Only this algorithm (with --compromised)."),
    as_json: bool = JSON_OPT,
) -> None:
    """Promote the next key to active and retire the current one.

    The next key must have been published for one JWKS cache lifetime first; otherwise
    nothing changes and the time it becomes eligible is printed."""
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    now = SystemClock().now()
    policy = policy_from(s, KEYRING_REFRESH_SECONDS)
    if alg and alg not in ALGORITHMS:
        fail(f"--alg must be one of {', '.join(ALGORITHMS)}", 2)
    with db.begin() as conn:
        repo = SigningKeyRepository(conn, vault)
        if compromised:
            for name in [alg] if alg else list(ALGORITHMS):
                repo.apply(emergency(repo.all(), name, now), now, CLI)
            changes = None
        else:
            changes = maintain(conn, vault, now, policy, rotate=True, actor=CLI)
        keys = repo.all()
    if changes is not None and not any(k.state is KeyState.ACTIVE for k in changes.changed):
        waiting = [k for k in keys if k.state is KeyState.NEXT]
        for k in waiting:
            ready = k.created_at + policy.jwks_max_age + policy.cache_staleness
            console.print(f"{k.alg}: next key {k.kid} may sign from {ready.isoformat()}")
        fail("no next key has been published long enough yet; nothing rotated", 1)
    _print(keys, as_json)


@signing_app.command("maintain")
def maintain_cmd(as_json: bool = JSON_OPT) -> None:
    """Apply whatever the schedule says is due (for cron; servers also do this)."""
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    now = SystemClock().now()
    with db.begin() as conn:
        maintain(conn, vault, now, policy_from(s, KEYRING_REFRESH_SECONDS), actor=CLI)
        keys = SigningKeyRepository(conn, vault).all()
    _print(keys, as_json)
