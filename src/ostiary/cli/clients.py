"""``ostiary clients``: OAuth/OIDC client registrations (issue 6 point 2).

Secrets are printed exactly once (create, rotate-secret) and stored sealed by the vault.
Every change is audited with the CLI as the actor.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.table import Table

from ostiary.audit.events import Actor, AuditEvent
from ostiary.cli.common import console, database, fail, print_json, settings
from ostiary.core.clock import SystemClock
from ostiary.core.durations import parse_duration
from ostiary.core.errors import NotFound
from ostiary.oidc import clients as domain
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.repositories.registration_tokens import INITIAL, RegistrationTokenRepository
from ostiary.web.oauth import purge as oauth_purge
from ostiary.web.oauth.client_admin import ClientAdmin

app = typer.Typer(help="OAuth / OpenID Connect clients.", no_args_is_help=True)
BCL_URI_OPT = typer.Option(
    None, "--backchannel-logout-uri", help="Back-Channel Logout 1.0 endpoint ('' removes it)."
)
BCL_SID_OPT = typer.Option(
    None,
    "--backchannel-logout-session-required/--no-backchannel-logout-session-required",
    help="The client needs sid in logout tokens (Ostiary always sends it).",
)
POST_LOGOUT_OPT = typer.Option(
    None,
    "--post-logout-redirect-uri",
    help="RP-Initiated Logout redirect target; repeat for each ('' clears).",
)
GROUPS_OPT = typer.Option(
    None,
    "--allowed-group",
    help="Only members of these groups (id or displayName) may use the client; "
    "repeat for each ('' clears: everyone).",
)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")
OWNER_OPT = typer.Option(
    None, "--owner", help="USER_ID_OR_USERNAME: deprovisioning them disables the client."
)
CLI = Actor(kind="cli", id="ostiary", auth="local")


def _jwks(path: Path | None) -> dict[str, Any] | None:
    if path is None:
        return None
    try:
        doc = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        fail(f"cannot read {path}: {exc}", 2)
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or any("d" in k or "k" in k for k in keys):
        fail("--jwks must be a JWK Set of public keys", 2)
    return {"keys": keys}


ALG_OPT = typer.Option(None, "--id-token-alg", help="RS256 (default), ES256 or EdDSA.")
ACCESS_OPT = typer.Option(None, "--access-token-lifetime", help="e.g. 5m (30s-15m).")
ID_OPT = typer.Option(None, "--id-token-lifetime", help="e.g. 10m (30s-15m).")
REFRESH_OPT = typer.Option(None, "--refresh-token-lifetime", help="Sliding, e.g. 30d.")


def _token_options(
    alg: str | None, access: str | None, idt: str | None, refresh: str | None
) -> dict[str, Any]:
    """Per-client token settings given on the command line, as ``options`` entries."""
    out: dict[str, Any] = {}
    if alg is not None:
        out["id_token_signed_response_alg"] = alg
    named = {
        "access_token_lifetime": access,
        "id_token_lifetime": idt,
        "refresh_token_lifetime": refresh,
    }
    for name, value in named.items():
        if value is None:
            continue
        try:
            out[name] = int(parse_duration(value).total_seconds())
        except ValueError as exc:
            fail(f"--{name.replace('_', '-')}: {exc}", 2)
    return out


def _print(client: domain.Client, as_json: bool, secret: str | None = None) -> None:
    doc = client.summary()
    if secret is not None:
        doc["client_secret"] = secret
    if as_json:
        print_json(doc)
        return
    for name, value in doc.items():
        console.print(f"{name}: {value}", markup=False, highlight=False)
    if secret is not None:
        console.print("Store the secret now: it is not shown again.")


def _logout_changes(
    uri: str | None,
    sid_required: bool | None,
    post_logout: list[str] | None,
    groups: list[str] | None,
) -> dict[str, Any]:
    """The logout/access settings given, as ``options`` entries (None: remove the entry;
    an option not given is absent). Validated where the options are merged."""
    changes: dict[str, Any] = {}
    if uri is not None:
        changes["backchannel_logout_uri"] = uri or None
    if sid_required is not None:
        changes["backchannel_logout_session_required"] = sid_required
    for name, values in (("post_logout_redirect_uris", post_logout), ("allowed_groups", groups)):
        if values:
            kept = [v for v in values if v]
            changes[name] = kept or None
    return changes


def _options(
    alg: str | None,
    access: str | None,
    idt: str | None,
    refresh: str | None,
    bcl_uri: str | None,
    bcl_sid: bool | None,
    post_logout: list[str] | None,
    groups: list[str] | None,
) -> dict[str, Any]:
    """The ``options`` entries create and update share: token, logout and access settings."""
    return _token_options(alg, access, idt, refresh) | _logout_changes(
        bcl_uri, bcl_sid, post_logout, groups
    )


@contextmanager
def _changing() -> Iterator[ClientAdmin]:
    """One transaction of client changes, audited with the CLI as the actor. A missing
    client exits 1, a refused change 2; either way nothing is written."""
    db, vault = _load()
    try:
        with db.begin() as conn:
            yield _admin(conn, vault)
    except NotFound as exc:
        fail(str(exc), 1)
    except domain.ClientError as exc:
        fail(str(exc), 2)


@app.command()
def create(
    name: str = typer.Option(..., "--name"),
    client_type: str = typer.Option("confidential", "--type", help="confidential or public"),
    auth_method: str | None = typer.Option(
        None,
        "--auth-method",
        help="client_secret_basic (default), client_secret_post, "
        "client_secret_jwt, private_key_jwt; public clients use none",
    ),
    redirect_uri: list[str] = typer.Option([], "--redirect-uri", help="Repeat for each."),
    grant_type: list[str] = typer.Option(["authorization_code", "refresh_token"], "--grant-type"),
    scope: list[str] = typer.Option(["openid", "profile", "email"], "--scope"),
    jwks_file: Path | None = typer.Option(None, "--jwks", help="JWK Set file (private_key_jwt)."),
    first_party: bool = typer.Option(
        False, "--first-party", help="Never show this client's users a consent page."
    ),
    # Named for their option (typer takes the flag from *_OPT): short, so that the
    # options shared with update pass to _options on one line.
    alg: str | None = ALG_OPT,
    access: str | None = ACCESS_OPT,
    idt: str | None = ID_OPT,
    refresh: str | None = REFRESH_OPT,
    bcl_uri: str | None = BCL_URI_OPT,
    bcl_sid: bool | None = BCL_SID_OPT,
    post_logout: list[str] | None = POST_LOGOUT_OPT,
    groups: list[str] | None = GROUPS_OPT,
    as_json: bool = JSON_OPT,
    owner: str | None = OWNER_OPT,
) -> None:
    """Register a client. Its secret, if any, is printed once."""
    options = _options(alg, access, idt, refresh, bcl_uri, bcl_sid, post_logout, groups)
    if first_party:
        options["first_party"] = True
    with _changing() as admin:
        client, secret = admin.create(
            name=name,
            client_type=client_type,
            auth_method=auth_method,
            redirect_uris=redirect_uri,
            grant_types=grant_type,
            scopes=scope,
            jwks=_jwks(jwks_file),
            options=options,
            owner=owner,
        )
    _print(client, as_json, secret)


@app.command("list")
def list_clients(as_json: bool = JSON_OPT) -> None:
    """Every registered client (never their secrets)."""
    s = settings()
    db = database(s)
    with db.read() as conn:
        found = ClientRepository(conn, bootstrap.open_vault(s, db)).list()
    if as_json:
        print_json([c.summary() for c in found])
        return
    table = Table("client_id", "name", "type", "auth method", "redirect URIs")
    for c in found:
        table.add_row(c.id, c.name, c.client_type, c.auth_method, " ".join(c.redirect_uris))
    console.print(table)


def _load() -> tuple[Any, Any]:
    s = settings()
    db = database(s)
    return db, bootstrap.open_vault(s, db)


def _admin(conn: Any, vault: Any) -> ClientAdmin:
    return ClientAdmin(conn, vault, CLI, SystemClock().now())


@app.command()
def show(client_id: str, as_json: bool = JSON_OPT) -> None:
    """One client's registration."""
    db, vault = _load()
    with db.read() as conn:
        client = ClientRepository(conn, vault).get(client_id)
    if client is None:
        fail(f"no client {client_id}", 1)
    _print(client, as_json)


@app.command()
def update(
    client_id: str,
    name: str | None = typer.Option(None, "--name"),
    redirect_uri: list[str] | None = typer.Option(None, "--redirect-uri", help="Replaces all."),
    scope: list[str] | None = typer.Option(None, "--scope", help="Replaces all."),
    jwks_file: Path | None = typer.Option(None, "--jwks"),
    alg: str | None = ALG_OPT,
    access: str | None = ACCESS_OPT,
    idt: str | None = ID_OPT,
    refresh: str | None = REFRESH_OPT,
    bcl_uri: str | None = BCL_URI_OPT,
    bcl_sid: bool | None = BCL_SID_OPT,
    post_logout: list[str] | None = POST_LOGOUT_OPT,
    groups: list[str] | None = GROUPS_OPT,
    as_json: bool = JSON_OPT,
    owner: str | None = OWNER_OPT,
) -> None:
    """Change a client's name, redirect URIs, scopes, keys, token, logout or access
    settings, or its owner."""
    options = _options(alg, access, idt, refresh, bcl_uri, bcl_sid, post_logout, groups)
    with _changing() as admin:
        after = admin.update(
            client_id,
            name=name,
            redirect_uris=redirect_uri,
            scopes=scope,
            jwks=_jwks(jwks_file),
            options=options,
            owner=owner,
        )
    _print(after, as_json)


@app.command("rotate-secret")
def rotate_secret(
    client_id: str,
    overlap: str = typer.Option("24h", "--overlap", help="How long the old secret still works."),
    as_json: bool = JSON_OPT,
) -> None:
    """Issue a new secret; the previous one keeps working for the overlap, then stops."""
    try:
        window = parse_duration(overlap) if overlap not in {"0", "0s"} else timedelta(0)
    except ValueError as exc:
        fail(str(exc), 2)
    with _changing() as admin:
        rotated, secret = admin.rotate_secret(client_id, window)
    _print(rotated, as_json, secret)


@app.command()
def delete(client_id: str, yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Remove a client and its secrets."""
    if not yes and not typer.confirm(f"delete client {client_id}?"):
        raise typer.Exit(1)
    with _changing() as admin:
        admin.delete(client_id)
    console.print(f"deleted client {client_id}")


@app.command("initial-token")
def initial_token(
    expires_in: str = typer.Option("1d", "--expires-in", help="Lifetime, e.g. 1d or 2h."),
) -> None:
    """An RFC 7591 initial access token for dynamic registration (printed once).

    Registration itself must be enabled: OSTIARY_DYNAMIC_REGISTRATION=true."""
    try:
        lifetime = parse_duration(expires_in)
    except ValueError as exc:
        fail(str(exc), 2)
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    pepper = bootstrap.load_pepper(db, vault)
    now = SystemClock().now()
    with db.begin() as conn:
        token = RegistrationTokenRepository(conn, pepper).issue(
            INITIAL, now, expires_at=now + lifetime
        )
        event = AuditEvent(
            action="client.initial_token.create",
            actor=CLI,
            target_type="initial_access_token",
            detail={"expires_at": (now + lifetime).isoformat()},
        )
        AuditLog(conn).append(event, now)
    print(token)


@app.command("purge-expired")
def purge_expired(as_json: bool = JSON_OPT) -> None:
    """Delete expired authorization codes, refresh tokens and revocation rows (servers
    also do this hourly)."""
    s = settings()
    purged = oauth_purge.run_once(database(s), SystemClock())
    if as_json:
        print_json(purged.as_dict())
        return
    for name, count in purged.as_dict().items():
        console.print(f"{name}: {count} deleted")
