"""What ``make run`` prints: a first provisioning key and a curl that uses it."""

from __future__ import annotations

import shlex
from datetime import timedelta

import orjson

from ostiary.cli.common import console
from ostiary.core.clock import SystemClock
from ostiary.core.settings import Settings
from ostiary.keys.lifecycle import KeyPolicy, create_key
from ostiary.keys.roles import OWNER
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.repositories.roles import RoleRepository

EXAMPLE_USER = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "ada@example.com",
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
}


def console_hint(base: str, db: Database) -> str:
    """Where the admin console is, and how to make its first owner when there is none."""
    with db.read() as conn:
        has_owner = bool(RoleRepository(conn).holders(OWNER))
    if has_owner:
        return f"Admin console: {base}/console"
    return (
        "Admin console: create its first owner with\n"
        "  .venv/bin/ostiary admin create you@example.com --role owner\n"
        f"then open {base}/console"
    )


def start_page(base: str) -> str:
    """The page at / (web/oauth/home.py): where a sign-in without ``next`` lands."""
    return f"Start page: {base}/  (sign in; links to the console, discovery and API docs)"


def print_quickstart(s: Settings, db: Database) -> None:
    base = f"http://{s.host}:{s.port}"
    with db.read() as conn:
        has_keys = bool(KeyRepository(conn).list())
    if has_keys:
        console.print(
            f"\nOstiary will serve on {base}. Keys exist already; create another with:\n"
            "  .venv/bin/ostiary keys create --name demo --scope users:read --scope users:write"
        )
        print(start_page(base))
        print(console_hint(base, db))
        return
    vault = bootstrap.open_vault(s, db)
    new = create_key(
        name="getting-started",
        scopes=[
            "users:read",
            "users:write",
            "users:deprovision",
            "groups:read",
            "groups:write",
            "bulk",
        ],
        now=SystemClock().now(),
        pepper=bootstrap.load_pepper(db, vault),
        policy=KeyPolicy(max_lifetime=timedelta(days=s.key_max_lifetime_days)),
        lifetime=timedelta(days=min(30, s.key_max_lifetime_days)),
        created_by="make run",
    )
    with db.begin() as conn:
        KeyRepository(conn).add(new.record)
    body = orjson.dumps(EXAMPLE_USER).decode()
    auth = shlex.quote(f"Authorization: Bearer {new.token}")
    lines = [
        "",
        f"Ostiary is starting on {base}  (health: {base}/healthz, API docs: {base}/api/docs)",
        start_page(base),
        "",
        "A first provisioning key was created (shown once, valid 30 days):",
        f"  {new.token}",
        "",
        "Create a user over SCIM:",
        f"  curl -s -X POST {base}/scim/v2/Users -H {auth} \\",
        f"       -H 'Content-Type: application/scim+json' -d {shlex.quote(body)}",
        "",
        "Then read it back with the id from the answer:",
        f"  curl -s {base}/scim/v2/Users/<id> -H {auth}",
        "",
        console_hint(base, db),
        "",
    ]
    print("\n".join(lines))
