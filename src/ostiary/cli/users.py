"""``ostiary users totp enroll|reset USER``: an administrator's hold on the TOTP factor.

``enroll`` makes a new RFC 6238 key for a user who has none, turns it on, and prints the
key and its ``otpauth://`` URI once (hand it to the user over a trusted channel; it is
stored only sealed by the vault). ``reset`` removes a user's factor (a lost phone) so the
next sign-in is by password alone, or enrols again under ``require_totp``. Both are
audited with the CLI as the actor. USER is a userName or a user id.
"""

from __future__ import annotations

from typing import Any

import typer

from ostiary.audit.events import Actor, AuditEvent
from ostiary.cli.common import console, database, fail, print_json, settings
from ostiary.core.clock import SystemClock
from ostiary.directory import totp as otp
from ostiary.directory.models import User
from ostiary.store import bootstrap
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.totp import TotpRepository, has_totp
from ostiary.store.repositories.users import UserRepository

app = typer.Typer(help="Users of the directory.", no_args_is_help=True)
totp_app = typer.Typer(help="TOTP second factors (RFC 6238).", no_args_is_help=True)
app.add_typer(totp_app, name="totp")
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")
CLI = Actor(kind="cli", id="ostiary", auth="local")
ISSUER_LABEL = "Ostiary"


def _find(conn: Any, name_or_id: str) -> User:
    users = UserRepository(conn)
    user = users.get_by_user_name(name_or_id) or users.get(name_or_id)
    if user is None:
        fail(f"no user {name_or_id!r}")
    return user


def _audit(conn: Any, action: str, user: User) -> None:
    event = AuditEvent(action=action, actor=CLI, target_type="user", target_id=user.id)
    AuditLog(conn).append(event, SystemClock().now())


@totp_app.command()
def enroll(user: str = typer.Argument(..., metavar="USER"), as_json: bool = JSON_OPT) -> None:
    """Give USER a TOTP factor, on at once; prints its key once."""
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    secret = otp.new_secret()
    with db.begin() as conn:
        found = _find(conn, user)
        if has_totp(conn, found.id):
            fail(f"{found.user_name} already has TOTP; reset it first", 1)
        TotpRepository(conn, vault).put(found.id, secret, SystemClock().now(), confirmed=True)
        _audit(conn, "user.totp.enroll", found)
    doc = {
        "user_id": found.id,
        "user_name": found.user_name,
        "secret": otp.to_base32(secret),
        "otpauth_uri": otp.otpauth_uri(secret, found.user_name, ISSUER_LABEL),
    }
    if as_json:
        print_json(doc)
        return
    for name, value in doc.items():
        console.print(f"{name}: {value}", markup=False, highlight=False)
    console.print("Give the key to the user now: it is not shown again.")


@totp_app.command()
def reset(user: str = typer.Argument(..., metavar="USER")) -> None:
    """Remove USER's TOTP factor (for example after a lost phone)."""
    s = settings()
    db = database(s)
    vault = bootstrap.open_vault(s, db)
    with db.begin() as conn:
        found = _find(conn, user)
        if not TotpRepository(conn, vault).delete(found.id):
            fail(f"{found.user_name} has no TOTP factor", 1)
        _audit(conn, "user.totp.reset", found)
    console.print(f"TOTP removed for {found.user_name}.", markup=False, highlight=False)
