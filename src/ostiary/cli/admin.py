"""``ostiary admin``: console administrators and their roles (issue 9 point 1).

Only the local operator (shell access to the configuration and master key) runs these;
``create`` bootstraps the first owner: it makes the user (password from a prompt or a
file) or grants the role to an existing one. Every change is audited.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

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


@dataclass(frozen=True)
class _RoleChange:
    """A role change under way: the transaction, the user and role, the audit actor."""

    conn: Any
    user_id: str
    role: str
    actor: Actor
    now: datetime

    def audit(self, action: str) -> None:
        """The change's audit event, in the same transaction as the change."""
        event = AuditEvent(
            action=action,
            actor=self.actor,
            target_type="User",
            target_id=self.user_id,
            detail={"role": self.role},
        )
        AuditLog(self.conn).append(event, self.now)

    def grant(self) -> None:
        """Granting a role already held changes nothing, so it is not audited."""
        if RoleRepository(self.conn).grant(
            self.user_id, self.role, self.now, f"cli:{self.actor.id}"
        ):
            self.audit("admin.role.grant")


@contextmanager
def _role_change(username: str, role: str) -> Iterator[_RoleChange]:
    """A change to an existing user's roles, in one transaction; an unknown role exits 2,
    an unknown user 1, before anything is written."""
    role = _role(role)
    ctx = context()
    actor = cli_actor()
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        user = UserRepository(conn).get_by_user_name(username)
        if user is None:
            fail(f"no user {username!r}")
        yield _RoleChange(conn, user.id, role, actor, now)


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
        _RoleChange(conn, user.id, role, actor, now).grant()
    made = "created" if existing is None else "existing user"
    console.print(f"{username} ({made}) holds role {role}; sign in at /console", markup=False)


@app.command()
def grant(username: str, role: str = typer.Option(..., "--role", help=ROLE_HELP)) -> None:
    """Give an existing user a console role."""
    with _role_change(username, role) as change:
        change.grant()
    console.print(f"{username} holds role {change.role}", markup=False)


@app.command()
def revoke(username: str, role: str = typer.Option(..., "--role", help=ROLE_HELP)) -> None:
    """Take a console role away (effective on the user's next console request)."""
    with _role_change(username, role) as change:
        if not RoleRepository(change.conn).revoke(change.user_id, change.role):
            fail(f"{username} does not hold role {change.role}")
        change.audit("admin.role.revoke")
    console.print(f"{username} no longer holds role {change.role}", markup=False)


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
