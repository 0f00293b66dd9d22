"""``ostiary admin``: console administrators and their roles (issue 9 point 1).

Only the local operator (shell access to the configuration and master key) runs these;
``create`` bootstraps the first owner: it makes the user (password from a prompt or a
file) or grants the role to an existing one. Every change is audited.
"""

from __future__ import annotations

from pathlib import Path

import typer

from ostiary.audit.events import Actor, AuditEvent
from ostiary.cli.common import console, fail, print_json
from ostiary.cli.keys_common import cli_actor, context
from ostiary.core.ids import new_id
from ostiary.directory.errors import UniquenessConflict
from ostiary.directory.passwords import hash_password
from ostiary.keys.errors import PolicyViolation
from ostiary.keys.roles import ROLES, validate_role
from ostiary.scim.users import build_user
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.roles import RoleRepository
from ostiary.store.repositories.users import UserRepository

app = typer.Typer(help="Console administrators and their roles.", no_args_is_help=True)
ROLE_HELP = f"one of {', '.join(ROLES)}"
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")
MIN_PASSWORD = 12


def _role(role: str) -> str:
    try:
        return validate_role(role)
    except PolicyViolation as exc:
        fail(str(exc), 2)


def _password(password_file: Path | None) -> str:
    if password_file is not None:
        try:
            text = password_file.read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            fail(f"cannot read {password_file}: {exc.strerror}", 2)
    else:
        text = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(text) < MIN_PASSWORD:
        fail(f"the password must have at least {MIN_PASSWORD} characters", 2)
    return text


def _grant_event(actor: Actor, user_id: str, role: str, action: str) -> AuditEvent:
    return AuditEvent(
        action=action, actor=actor, target_type="User", target_id=user_id, detail={"role": role}
    )


@app.command()
def create(
    username: str = typer.Argument(..., help="the administrator's userName"),
    role: str = typer.Option("owner", "--role", help=ROLE_HELP),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="read the password from this file (else a prompt)"
    ),
) -> None:
    """Create an administrator (or give an existing user the role): the first owner."""
    role = _role(role)
    ctx = context()
    actor = cli_actor()
    with ctx.db.read() as conn:
        existing = UserRepository(conn).get_by_user_name(username)
    password = None if existing else _password(password_file)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        users = UserRepository(conn)
        user = users.get_by_user_name(username)
        log = AuditLog(conn)
        if user is None:
            assert password is not None
            doc = {"userName": username.strip(), "active": True, "password": password}
            user = build_user(doc, user_id=new_id(), hash_password=hash_password, now=now)
            try:
                users.add(user)
            except UniquenessConflict as exc:
                fail(str(exc))
            log.append(
                AuditEvent(
                    action="admin.user.create",
                    actor=actor,
                    target_type="User",
                    target_id=user.id,
                    detail={"userName": user.user_name},
                ),
                now,
            )
        if RoleRepository(conn).grant(user.id, role, now, f"cli:{actor.id}"):
            log.append(_grant_event(actor, user.id, role, "admin.role.grant"), now)
    made = "created" if existing is None else "existing user"
    console.print(f"{username} ({made}) holds role {role}; sign in at /console", markup=False)


@app.command()
def grant(username: str, role: str = typer.Option(..., "--role", help=ROLE_HELP)) -> None:
    """Give an existing user a console role."""
    role = _role(role)
    ctx = context()
    actor = cli_actor()
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        user = UserRepository(conn).get_by_user_name(username)
        if user is None:
            fail(f"no user {username!r}")
        if RoleRepository(conn).grant(user.id, role, now, f"cli:{actor.id}"):
            AuditLog(conn).append(_grant_event(actor, user.id, role, "admin.role.grant"), now)
    console.print(f"{username} holds role {role}", markup=False)


@app.command()
def revoke(username: str, role: str = typer.Option(..., "--role", help=ROLE_HELP)) -> None:
    """Take a console role away (effective on the user's next console request)."""
    role = _role(role)
    ctx = context()
    actor = cli_actor()
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        user = UserRepository(conn).get_by_user_name(username)
        if user is None:
            fail(f"no user {username!r}")
        if not RoleRepository(conn).revoke(user.id, role):
            fail(f"{username} does not hold role {role}")
        AuditLog(conn).append(_grant_event(actor, user.id, role, "admin.role.revoke"), now)
    console.print(f"{username} no longer holds role {role}", markup=False)


@app.command("list")
def list_admins(as_json: bool = JSON_OPT) -> None:
    """Every administrator and role."""
    with context().db.read() as conn:
        rows = [
            {"user_id": u, "userName": n, "role": r, "granted_at": at.isoformat(), "granted_by": b}
            for u, n, r, at, b in RoleRepository(conn).all()
        ]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        console.print(f"{r['userName']}  {r['role']}  {r['granted_at']}", markup=False)
