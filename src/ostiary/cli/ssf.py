"""``ostiary ssf``: the Shared Signals transmitter's streams, seen from the operator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.table import Table

from ostiary.audit.events import Actor, AuditEvent
from ostiary.cli.common import console, fail, print_json, settings
from ostiary.signals.ssf.streams import Status
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.ssf import SsfRepository

app = typer.Typer(help="Shared Signals Framework transmitter.", no_args_is_help=True)
streams_app = typer.Typer(help="Event streams receivers created.", no_args_is_help=True)
app.add_typer(streams_app, name="streams")
JSON_OPT = typer.Option(False, "--json", help="Machine-readable output.")
CLI = Actor(kind="cli", id="ostiary", auth="local")

if TYPE_CHECKING:
    from ostiary.web.context import AppContext


def _context() -> AppContext:
    from ostiary.web.context import AppContext  # the transmitter lives in the web layer

    return AppContext.build(settings())


@streams_app.command("list")
def list_streams(as_json: bool = JSON_OPT) -> None:
    """Every stream, its receiver (key id), delivery, status and queued SETs."""
    ctx = _context()
    try:
        with ctx.db.read() as conn:
            repo = SsfRepository(conn, ctx.vault)
            rows = [(s, repo.queue_counts(s.id)) for s in repo.all()]
    finally:
        ctx.db.dispose()
    docs: list[dict[str, Any]] = [
        {
            "stream_id": s.id,
            "receiver_key_id": s.owner,
            "method": s.method,
            "endpoint_url": s.endpoint_url or ctx.ssf().poll_url(s.id),
            "events_delivered": s.events_delivered,
            "status": s.status.value,
            "reason": s.reason,
            "queued": counts,
            "description": s.description,
        }
        for s, counts in rows
    ]
    if as_json:
        print_json(docs)
        return
    table = Table("stream", "receiver", "delivery", "status", "events", "queued")
    for d in docs:
        method = "push" if d["method"].endswith("8935") else "poll"
        queued = " ".join(f"{k}={v}" for k, v in d["queued"].items() if v)
        events = " ".join(e.rsplit("/", 1)[-1] for e in d["events_delivered"])
        table.add_row(
            d["stream_id"],
            d["receiver_key_id"],
            f"{method} {d['endpoint_url']}",
            d["status"],
            events,
            queued,
        )
    console.print(table)


@streams_app.command("status")
def set_status(
    stream_id: str,
    status: Status,
    reason: str = typer.Option(None, "--reason", help="Told to the receiver."),
) -> None:
    """Enable, pause or disable a stream; the receiver gets a stream-updated event."""
    ctx = _context()
    try:
        now = ctx.clock.now()
        with ctx.db.begin() as conn:
            stream = SsfRepository(conn, ctx.vault).get(stream_id)
            if stream is None:
                fail(f"no stream {stream_id}")
            ctx.ssf().change_status(conn, stream, status, reason, now)
            event = AuditEvent(
                action="ssf.stream.status",
                actor=CLI,
                target_type="ssf_stream",
                target_id=stream_id,
                before={"status": stream.status.value},
                after={"status": status.value, "reason": reason},
            )
            AuditLog(conn).append(event, now)
    finally:
        ctx.db.dispose()
    console.print(f"stream {stream_id} is {status.value}")
