"""The audit trail: search (newest first) and its verification status (issue 9 point 2).

The status is the tree size and the latest signed checkpoint; "Verify now" recomputes the
whole tree and checks every checkpoint, what ``ostiary audit verify`` does, and shows the
first problem found. Verifying is audited (who checked, and the answer).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.audit.events import AuditEvent
from ostiary.keys import admin_tokens as at
from ostiary.store.repositories import console_views as views
from ostiary.store.repositories.audit import AuditLog, AuditReader
from ostiary.store.repositories.audit_integrity import CheckpointStore, Integrity
from ostiary.web.audit import request_info
from ostiary.web.console.guard import Admin, Rule, get, post, render
from ostiary.web.context import AppContext

READ = Rule(at.AUDIT_READ)
FIELDS = ("action", "actor", "target", "outcome")


def _filter(request: Request) -> tuple[views.EventFilter, dict[str, str]]:
    given = {f: request.query_params.get(f, "").strip()[:200] for f in FIELDS}
    before = request.query_params.get("before", "")
    return (
        views.EventFilter(
            action=given["action"] or None,
            actor=given["actor"] or None,
            target=given["target"] or None,
            outcome=given["outcome"] or None,
            before_seq=int(before) if before.isdigit() and len(before) < 19 else None,
        ),
        given,
    )


def _status(ctx: AppContext) -> dict[str, Any]:
    with ctx.db.read() as conn:
        size, _ = AuditReader(conn).head()
        latest = CheckpointStore(conn).latest()
    checkpoint = latest[1] if latest else None
    return {
        "tree_size": size,
        "checkpoint_size": checkpoint.tree_size if checkpoint else None,
        "checkpoint_time": checkpoint.time if checkpoint else None,
    }


def _page(
    request: Request, admin: Admin, report: dict[str, Any] | None = None, checked: Any = None
) -> Response:
    ctx: AppContext = request.app.state.ctx
    f, given = _filter(request)
    with ctx.db.read() as conn:
        events = views.newest_events(conn, f, 50)
    older = events[-1]["seq"] if len(events) == 50 else None
    return render(
        request,
        admin,
        "audit.html",
        events=events,
        given=given,
        older=older,
        integrity=_status(ctx),
        report=report,
        checked=checked,
    )


def audit_page(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    return _page(request, admin)


def verify(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    with ctx.db.read() as conn:
        report = Integrity(conn, ctx.vault).verify().as_dict()
    now: datetime = ctx.clock.now()
    with ctx.db.begin() as conn:
        event = AuditEvent(
            action="console.audit.verify",
            actor=admin.actor,
            outcome="success" if report["ok"] else "failure",
            request=request_info(request),
            detail={"ok": report["ok"], "events": report["events"]},
        )
        AuditLog(conn).append(event, now)
    return _page(request, admin, report, now)


routes = [
    get("/console/audit", audit_page, READ),
    post("/console/audit/verify", verify, READ),
]
