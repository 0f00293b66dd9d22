"""``ostiary signing-keys``: the OpenID Provider's signing keys."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import typer
from joserfc import jwk
from rich.table import Table

from ostiary.audit.events import Actor, AuditEvent
from ostiary.cli.common import console, database, fail, print_json, settings
from ostiary.core.clock import SystemClock
from ostiary.oidc.dpop import PRIVATE_MEMBERS
from ostiary.oidc.signing import ALGORITHMS, KeyState, SigningKey, emergency
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.key_credentials import KeyCredentialRepository, KeyCredentials
from ostiary.store.repositories.keys import KeyRepository
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


key_oauth_app = typer.Typer(
    help="OAuth settings of provisioning keys (private_key_jwt keys, DPoP).",
    no_args_is_help=True,
)


def _show_creds(creds: KeyCredentials, as_json: bool) -> None:
    doc = {
        "key_id": creds.key_id,
        "require_dpop": creds.require_dpop,
        "jwks": creds.jwks,
    }
    if as_json:
        print_json(doc)
    else:
        kids = [k.get("kid") or jwk.import_key(k).thumbprint() for k in creds.jwks["keys"]]
        console.print(f"{creds.key_id}: require_dpop={creds.require_dpop} keys={kids}")


@key_oauth_app.command("set")
def key_oauth_set(
    key_id: str = typer.Argument(..., help="The provisioning key id."),
    jwk_file: Path | None = typer.Option(
        None, "--jwk", help="A public JWK or JWK Set (JSON file) for private_key_jwt."
    ),
    require_dpop: bool | None = typer.Option(
        None, "--require-dpop/--allow-bearer", help="Refuse tokens without a DPoP proof."
    ),
    as_json: bool = JSON_OPT,
) -> None:
    """Register client-authentication keys and the DPoP policy for a key."""
    s = settings()
    db = database(s)
    now = SystemClock().now()
    try:
        jwks = _read_jwks(jwk_file) if jwk_file else None
    except ValueError as exc:
        fail(str(exc), 2)
    with db.begin() as conn:
        if KeyRepository(conn).get(key_id) is None:
            fail(f"no provisioning key {key_id}", 1)
        repo = KeyCredentialRepository(conn)
        creds = repo.get(key_id) or KeyCredentials(key_id)
        creds = replace(
            creds,
            jwks=jwks if jwks is not None else creds.jwks,
            require_dpop=creds.require_dpop if require_dpop is None else require_dpop,
        )
        repo.put(creds, now)
        detail = {"require_dpop": creds.require_dpop, "jwks": creds.jwks}
        AuditLog(conn).append(
            AuditEvent(
                action="key.oauth.update",
                actor=CLI,
                target_type="provisioning_key",
                target_id=key_id,
                detail=detail,
            ),
            now,
        )
    _show_creds(creds, as_json)


def _read_jwks(path: Path) -> dict[str, Any]:
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise ValueError(f"cannot read {path}: {exc}") from None
    members = doc.get("keys") if isinstance(doc, dict) and "keys" in doc else [doc]
    if not isinstance(members, list) or not members:
        raise ValueError("expected a JWK or a JWK Set")
    out = []
    for member in members:
        if not isinstance(member, dict) or PRIVATE_MEMBERS & member.keys():
            raise ValueError("only public keys may be registered")
        try:
            key = jwk.import_key(member)
        except Exception as exc:  # joserfc raises several types for bad JWKs
            raise ValueError(f"not a usable JWK: {exc}") from None
        if key.key_type not in {"EC", "RSA", "OKP"}:
            raise ValueError("only asymmetric keys (EC, RSA, OKP) are accepted")
        out.append(member | {"kid": member.get("kid") or key.thumbprint()})
    return {"keys": out}


@key_oauth_app.command("show")
def key_oauth_show(key_id: str, as_json: bool = JSON_OPT) -> None:
    """A key's registered client-authentication keys and DPoP policy."""
    db = database()
    with db.read() as conn:
        creds = KeyCredentialRepository(conn).get(key_id) or KeyCredentials(key_id)
    _show_creds(creds, as_json)
