"""``ostiary sync plan|apply|watch``: push a source of truth to a SCIM server."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ostiary.cli.common import console, database, err_console, fail, print_json, settings
from ostiary.cli.sync_targets import StoreSource
from ostiary.cli.sync_targets import app as targets_app
from ostiary.sync.apply import Summary
from ostiary.sync.config import load_config
from ostiary.sync.errors import SafetyRefused, SyncError
from ostiary.sync.plan import Plan, check_safety
from ostiary.sync.runner import Agent
from ostiary.sync.watch import Cycle, watch

app = typer.Typer(
    help="The sync agent: push a source of truth to any SCIM 2.0 server.", no_args_is_help=True
)
CONFIG = typer.Option(Path("sync.toml"), "--config", "-c", help="The sync TOML file.")
STATE = typer.Option(
    None, "--state-dir", help="Journal directory (default $OSTIARY_SYNC_STATE_DIR or ./var/sync)."
)
DELETE = typer.Option(
    False, "--delete", help="Delete users missing from the source instead of deactivating them."
)
app.add_typer(targets_app, name="targets")
ALLOW = typer.Option(
    False, "--allow-mass-deprovision", help="Deprovision more users than the safety threshold."
)


def _agent(config: Path, state_dir: Path | None) -> Agent:
    state = state_dir or Path(os.environ.get("OSTIARY_SYNC_STATE_DIR", "var/sync"))
    try:
        agent = Agent(load_config(config), state)
    except SyncError as exc:
        fail(str(exc), 2)
    if agent.cfg.source.type == "ostiary" and "url" not in agent.cfg.source.options:
        # No url: read this Ostiary's own database (its settings come from the environment).
        s = settings()
        agent._source = StoreSource(database(s), f"{s.issuer}/scim/v2")
    return agent


def _fmt(value: Any) -> str:
    text = "∅" if value is None else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def render_plan(plan: Plan) -> None:
    table = Table(title="sync plan", show_lines=False)
    for col in ("action", "resource", "detail"):
        table.add_column(col)
    for c in plan.creates:
        table.add_row("[green]create", c.user_name, c.key)
    for u in plan.updates:
        detail = "; ".join(f"{ch.path}: {_fmt(ch.old)} → {_fmt(ch.new)}" for ch in u.changes)
        table.add_row("[yellow]update", u.user_name, detail)
    for d in plan.deprovisions:
        table.add_row(
            "[red]" + ("delete" if d.delete else "deactivate"), d.user_name, d.external_id or d.id
        )
    for g in plan.group_creates:
        table.add_row("[green]create group", g, "")
    for m in plan.memberships:
        detail = f"+{len(m.add)} -{len(m.remove)}" + (" (delete group)" if m.delete_group else "")
        table.add_row("[cyan]members", m.group, detail)
    console.print(table)
    console.print(" ".join(f"{k}={v}" for k, v in plan.counts().items()))


def _plan(agent: Agent, delete: bool) -> tuple[Plan, Any]:
    journal = agent.journal()
    if journal.interrupted:
        err_console.print("note: the previous apply was interrupted; this run completes it")
    return agent.plan(delete=delete, journal=journal), journal


@app.command()
def plan(
    config: Path = CONFIG,
    state_dir: Path | None = STATE,
    delete: bool = DELETE,
    as_json: bool = typer.Option(False, "--json", help="Machine-readable output."),
) -> None:
    """Show the creates, updates, deactivations and membership changes; change nothing."""
    agent = _agent(config, state_dir)
    try:
        p, _ = _plan(agent, delete)
    except SyncError as exc:
        fail(str(exc))
    finally:
        agent.close()
    print_json(p.to_json()) if as_json else render_plan(p)
    try:
        check_safety(p, agent.cfg.safety, allow_mass_deprovision=False)
    except SafetyRefused as exc:
        err_console.print(f"warning: apply will refuse this plan: {exc}", markup=False)


def _summary(summary: Summary, agent: Agent) -> None:
    stats = agent.client.stats
    parts = [f"{k}={v}" for k, v in sorted(summary.done.items())]
    parts += [
        f"requests={stats['requests']}",
        f"retries={stats['retries']}",
        f"throttled={stats['throttled']}",
        f"failures={len(summary.failures)}",
    ]
    console.print("applied: " + " ".join(parts))
    for failure in summary.failures[:20]:
        err_console.print(f"failed: {failure}")


@app.command()
def apply(
    config: Path = CONFIG,
    state_dir: Path | None = STATE,
    delete: bool = DELETE,
    allow_mass_deprovision: bool = ALLOW,
    quiet: bool = typer.Option(False, "--quiet", help="No progress bars."),
) -> None:
    """Carry out the plan. Safe to re-run: a second apply changes nothing."""
    agent = _agent(config, state_dir)
    try:
        p, journal = _plan(agent, delete)
        console.print("plan: " + " ".join(f"{k}={v}" for k, v in p.counts().items()))
        if p.empty:
            console.print("nothing to do")
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, disable=quiet) as bars:
            totals = _phase_totals(p)
            tasks = {ph: bars.add_task(ph, total=n) for ph, n in totals.items() if n}
            summary = agent.apply(
                p,
                journal,
                allow_mass_deprovision=allow_mass_deprovision,
                progress=lambda ph, n: bars.advance(tasks[ph], n) if ph in tasks else None,
            )
        _summary(summary, agent)
        if summary.failures:
            raise typer.Exit(1)
    except SafetyRefused as exc:
        fail(str(exc), 3)
    except SyncError as exc:
        fail(str(exc))
    finally:
        agent.close()


def _phase_totals(p: Plan) -> dict[str, int]:
    return {
        "create": len(p.creates),
        "update": len(p.updates),
        "group": len(p.group_creates),
        "membership": sum(m.group_id is not None for m in p.memberships),
        "deprovision": len(p.deprovisions),
    }


@app.command("watch")
def watch_cmd(
    config: Path = CONFIG,
    state_dir: Path | None = STATE,
    delete: bool = DELETE,
    allow_mass_deprovision: bool = ALLOW,
    interval: float = typer.Option(300.0, "--interval", help="Full re-plan every N s."),
    poll: float = typer.Option(1.0, "--poll", help="Check the source every N s."),
) -> None:
    """Re-plan and apply whenever the source changes, and every --interval seconds."""
    agent = _agent(config, state_dir)

    def report(c: Cycle) -> None:
        if c.error:
            err_console.print(f"[{c.reason}] error: {c.error}", markup=False)
        elif c.plan is not None:
            counts = " ".join(f"{k}={v}" for k, v in c.plan.counts().items() if v)
            failures = len(c.summary.failures) if c.summary else 0
            console.print(
                f"[{c.reason}] {counts or 'no changes'} failures={failures}", markup=False
            )

    try:
        watch(
            agent,
            interval=interval,
            poll=poll,
            delete=delete,
            allow_mass_deprovision=allow_mass_deprovision,
            on_cycle=report,
        )
    except KeyboardInterrupt:
        pass
    finally:
        agent.close()
