"""``ostiary sync watch``: re-plan and apply when the source changes, or on an interval.

Files are polled cheaply by (mtime, size, inode). LDAP is asked for entries whose
``modifyTimestamp`` is newer than the last seen one (a delta search); deletions leave no
timestamp, so a full re-plan still runs every ``interval`` seconds whatever the signal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ostiary.sync.apply import Summary
from ostiary.sync.errors import SyncError
from ostiary.sync.plan import Plan
from ostiary.sync.runner import Agent


@dataclass
class Cycle:
    reason: str
    plan: Plan | None
    summary: Summary | None
    error: str | None = None


def changed(agent: Agent, last: str | None) -> tuple[bool, str]:
    fingerprint = agent.source.fingerprint()
    return (last is not None and fingerprint != last), fingerprint


def watch(
    agent: Agent,
    *,
    interval: float = 300.0,
    poll: float = 1.0,
    allow_mass_deprovision: bool = False,
    delete: bool = False,
    on_cycle: Callable[[Cycle], None] = lambda c: None,
    stop: threading.Event | None = None,
) -> None:
    stop = stop or threading.Event()
    fingerprint: str | None = None
    reason = "start"
    next_full = 0.0
    while not stop.is_set():
        if reason:
            on_cycle(run_cycle(agent, reason, allow_mass_deprovision, delete))
            next_full = time.monotonic() + interval
            reason = ""
            fingerprint = agent.source.fingerprint()
        stop.wait(poll)
        moved, fingerprint = changed(agent, fingerprint)
        if moved:
            reason = "source changed"
        elif time.monotonic() >= next_full:
            reason = "interval"


def run_cycle(agent: Agent, reason: str, allow: bool, delete: bool) -> Cycle:
    journal = agent.journal()
    try:
        plan = agent.plan(delete=delete, journal=journal)
        summary = None if plan.empty else agent.apply(plan, journal, allow_mass_deprovision=allow)
        return Cycle(reason, plan, summary)
    except SyncError as exc:
        # A bad cycle (source half-written, server down) must not end the watch.
        return Cycle(reason, None, None, str(exc))
