"""``ostiary webhooks`` and ``ostiary outbox``: where events go, and what is in flight."""

from __future__ import annotations

import base64
import os
import signal
import time

import typer
from rich.table import Table

from ostiary.cli.common import console, database, fail, print_json, settings
from ostiary.core.clock import SystemClock
from ostiary.signals.outbox import Status
from ostiary.store import bootstrap
from ostiary.store.repositories.outbox import OutboxRepository
from ostiary.store.repositories.webhooks import WebhookRepository

webhooks_app = typer.Typer(help="Signed webhook endpoints.", no_args_is_help=True)
outbox_app = typer.Typer(help="The delivery outbox.", no_args_is_help=True)
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")


@webhooks_app.command("create")
def create_webhook(
    url: str = typer.Option(..., "--url"),
    event: list[str] = typer.Option(..., "--event", help="Action prefix, e.g. scim.user; '*'."),
    description: str = typer.Option("", "--description"),
    as_json: bool = JSON_OPT,
) -> None:
    """Add an endpoint. Its signing secret is printed once."""
    if not url.startswith(("https://", "http://")):
        fail("--url must be an http(s) URL", 2)
    s = settings()
    db = database(s)
    secret = os.urandom(32)
    with db.begin() as conn:
        endpoint = WebhookRepository(conn, bootstrap.open_vault(s, db)).create(
            url, event, secret, SystemClock().now(), description
        )
    shown = "whsec_" + base64.b64encode(secret).decode()
    if as_json:
        print_json({"id": endpoint.id, "url": url, "events": event, "secret": shown})
        return
    console.print(f"webhook endpoint {endpoint.id} -> {url}")
    console.print("Signing secret (shown once; Standard Webhooks format):")
    print(shown)


@webhooks_app.command("list")
def list_webhooks(as_json: bool = JSON_OPT) -> None:
    s = settings()
    db = database(s)
    with db.read() as conn:
        rows = WebhookRepository(conn, bootstrap.open_vault(s, db)).all()
    if as_json:
        print_json(
            [{"id": e.id, "url": e.url, "events": e.events, "enabled": e.enabled} for e in rows]
        )
        return
    table = Table("id", "url", "events", "enabled")
    for e in rows:
        table.add_row(e.id, e.url, " ".join(e.events), str(e.enabled))
    console.print(table)


@webhooks_app.command("delete")
def delete_webhook(endpoint_id: str) -> None:
    s = settings()
    db = database(s)
    with db.begin() as conn:
        if not WebhookRepository(conn, bootstrap.open_vault(s, db)).delete(endpoint_id):
            fail(f"no webhook endpoint {endpoint_id}")
    console.print(f"deleted {endpoint_id}")


@outbox_app.command("list")
def list_outbox(
    status: Status | None = typer.Option(None, "--status"),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JSON_OPT,
) -> None:
    """Recent messages (payloads omitted in the table; use --json)."""
    with database().read() as conn:
        repo = OutboxRepository(conn)
        rows, counts = repo.recent(status, limit=limit), repo.counts()
    if as_json:
        print_json({"counts": counts, "messages": [m.__dict__ for m in rows]})
        return
    console.print(" ".join(f"{k}={v}" for k, v in counts.items()))
    table = Table("id", "topic", "destination", "status", "attempts", "last error")
    for m in rows:
        table.add_row(m.id, m.topic, m.destination, m.status, str(m.attempts), m.last_error or "")
    console.print(table)


@outbox_app.command("retry")
def retry(message_id: str) -> None:
    """Queue a dead message again."""
    with database().begin() as conn:
        if not OutboxRepository(conn).retry(message_id, SystemClock().now()):
            fail(f"no dead message {message_id}")
    console.print(f"{message_id} queued again")


def _interrupt(*_args: object) -> None:
    raise KeyboardInterrupt


@outbox_app.command("run")
def run(once: bool = typer.Option(False, "--once", help="One batch, then exit.")) -> None:
    """Deliver due messages in the foreground (serve also runs a worker by default)."""
    from ostiary.web.context import AppContext

    ctx = AppContext.build(settings())
    worker = ctx.outbox_worker()
    signal.signal(signal.SIGTERM, _interrupt)  # stop between batches, not mid-send
    try:
        while True:
            done = worker.run_once()
            if once:
                console.print(f"attempted {done}")
                return
            if not done:
                time.sleep(0.25)
    except KeyboardInterrupt:
        pass
    finally:
        worker.stop()
        ctx.db.dispose()
