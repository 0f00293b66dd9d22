"""The ``ostiary`` entry point."""

from __future__ import annotations

import typer

from ostiary.cli import admin, admin_tokens, audit, clients, keys, oidc, signals, ssf, sync, system
from ostiary.cli import users as users_cli

app = typer.Typer(
    help="Ostiary: SCIM provisioning, provisioning keys, OpenID Connect, audit.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals may hold secrets
)
app.command()(system.init)
app.command("migrate")(system.migrate_cmd)
app.command()(system.serve)
app.add_typer(system.config_app, name="config")
app.add_typer(system.vault_app, name="vault")
app.add_typer(keys.app, name="keys")
app.add_typer(audit.app, name="audit")
app.add_typer(signals.webhooks_app, name="webhooks")
app.add_typer(signals.outbox_app, name="outbox")
app.add_typer(admin_tokens.app, name="admin-tokens")
app.add_typer(ssf.app, name="ssf")
app.add_typer(sync.app, name="sync")
app.add_typer(oidc.signing_app, name="signing-keys")
app.add_typer(oidc.key_oauth_app, name="key-oauth")
app.add_typer(clients.app, name="clients")
app.add_typer(users_cli.app, name="users")
app.add_typer(admin.app, name="admin")


def main() -> None:
    app()
