"""SSF event streams and their delivery status, with outbox health (issue 9 point 2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.keys import admin_tokens as at
from ostiary.signals.outbox import Status
from ostiary.store.repositories.outbox import OutboxRepository
from ostiary.store.repositories.ssf import SsfRepository
from ostiary.web.console.guard import Admin, Rule, get, render
from ostiary.web.context import AppContext

READ = Rule(at.SSF_READ)


def streams(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    with ctx.db.read() as conn:
        repo = SsfRepository(conn, ctx.vault)
        rows = [(s, repo.queue_counts(s.id)) for s in repo.all()]
        outbox = OutboxRepository(conn)
        counts = outbox.counts()
        dead = outbox.recent(Status.DEAD, limit=20)
    return render(request, admin, "ssf.html", streams=rows, counts=counts, dead=dead)


routes = [get("/console/ssf", streams, READ)]
