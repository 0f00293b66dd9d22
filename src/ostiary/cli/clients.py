"""``ostiary clients``: OAuth/OIDC client registrations (issue 6 point 2).

Secrets are printed exactly once (create, rotate-secret) and stored sealed by the vault.
Every change is audited with the CLI as the actor.
"""

from __future__ import annotations

from dataclasses import replace
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
from ostiary.core.ids import random_base62
from ostiary.oidc import clients as domain
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.repositories.owners import OwnerRepository, resolve_user
from ostiary.store.repositories.registration_tokens import INITIAL, RegistrationTokenRepository
from ostiary.store.tables_owners import CLIENT

app = typer.Typer(help="OAuth / OpenID Connect clients.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")
CLI = Actor(kind="cli", id="ostiary", auth="local")


def _audit(conn: Any, action: str, client: domain.Client, **detail: Any) -> None:
    event = AuditEvent(
        action=action,
        actor=CLI,
        target_type="client",
        target_id=client.id,
        after=client.summary(),
        detail=detail,
    )
    AuditLog(conn).append(event, SystemClock().now())


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


OWNER_OPT = typer.Option(
    None, "--owner", help="USER_ID_OR_USERNAME: deprovisioning them disables the client."
)


def _own(conn: Any, client_id: str, owner: str | None) -> str | None:
    """Record the client's owner (issue 7 point 1); exit 2 if there is no such user."""
    if owner is None:
        return None
    try:
        owner_id = resolve_user(conn, owner)
    except NotFound as exc:
        fail(f"--owner: {exc}", 2)
    OwnerRepository(conn).set(CLIENT, client_id, owner_id, SystemClock().now())
    return owner_id


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
    as_json: bool = JSON_OPT,
    owner: str | None = OWNER_OPT,
) -> None:
    """Register a client. Its secret, if any, is printed once."""
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    try:
        client, secret = domain.build(
            client_id=random_base62(24),
            name=name,
            client_type=client_type,
            auth_method=auth_method,
            redirect_uris=redirect_uri,
            grant_types=grant_type,
            scopes=scope,
            jwks=_jwks(jwks_file),
            now=SystemClock().now(),
            options={"first_party": True} if first_party else None,
        )
    except domain.ClientError as exc:
        fail(str(exc), 2)
    with db.begin() as conn:
        ClientRepository(conn, vault).add(client)
        owner_id = _own(conn, client.id, owner)
        _audit(conn, "client.create", client, **({"owner_user_id": owner_id} if owner else {}))
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


def _load(client_id: str) -> tuple[Any, Any]:
    s = settings()
    db = database(s)
    return db, bootstrap.open_vault(s, db)


@app.command()
def show(client_id: str, as_json: bool = JSON_OPT) -> None:
    """One client's registration."""
    db, vault = _load(client_id)
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
    as_json: bool = JSON_OPT,
    owner: str | None = OWNER_OPT,
) -> None:
    """Change a client's name, redirect URIs, scopes, keys or owner."""
    db, vault = _load(client_id)
    now = SystemClock().now()
    with db.begin() as conn:
        repo = ClientRepository(conn, vault)
        try:
            before = repo.require(client_id)
            uris = tuple(domain.validate_redirect_uri(u) for u in redirect_uri or ())
        except (NotFound, domain.ClientError) as exc:
            fail(str(exc), 1 if isinstance(exc, NotFound) else 2)
        after = replace(
            before,
            name=name or before.name,
            redirect_uris=uris or before.redirect_uris,
            scopes=tuple(scope) if scope else before.scopes,
            jwks=_jwks(jwks_file) or before.jwks,
        )
        if "authorization_code" in after.grant_types and not after.redirect_uris:
            fail("the authorization code grant needs at least one redirect URI", 2)
        repo.update(after, now)
        owner_id = _own(conn, client_id, owner)
        extra = {"owner_user_id": owner_id} if owner else {}
        _audit(conn, "client.update", after, before=before.summary(), **extra)
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
    db, vault = _load(client_id)
    now = SystemClock().now()
    with db.begin() as conn:
        repo = ClientRepository(conn, vault)
        try:
            client = repo.require(client_id)
            new, ending = domain.rotate_secret(client, now, window)
        except NotFound as exc:
            fail(str(exc), 1)
        except domain.ClientError as exc:
            fail(str(exc), 2)
        repo.add_secret(client_id, new)
        for old in ending:
            assert old.not_after is not None
            repo.end_secret(client_id, old.version, old.not_after)
        rotated = repo.require(client_id)
        _audit(conn, "client.secret.rotate", rotated, version=new.version, overlap=str(window))
    _print(rotated, as_json, new.secret)


@app.command()
def delete(client_id: str, yes: bool = typer.Option(False, "--yes", help="Do not ask.")) -> None:
    """Remove a client and its secrets."""
    if not yes and not typer.confirm(f"delete client {client_id}?"):
        raise typer.Exit(1)
    db, vault = _load(client_id)
    with db.begin() as conn:
        repo = ClientRepository(conn, vault)
        client = repo.get(client_id)
        if client is None:
            fail(f"no client {client_id}", 1)
        repo.delete(client_id)
        _audit(conn, "client.delete", client)
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
