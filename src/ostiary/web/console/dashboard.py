"""The dashboard: counts, recent provisioning activity, keys near expiry, anomalies and
outbox health; each part only for a role allowed to see it (issue 9 point 2)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.core.clock import as_utc
from ostiary.keys import admin_tokens as at
from ostiary.keys import scopes
from ostiary.keys.models import KeyStatus
from ostiary.store.repositories import console_views as views
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.repositories.outbox import OutboxRepository
from ostiary.web.console.guard import Admin, Rule, get, render
from ostiary.web.context import AppContext

NEAR_EXPIRY = timedelta(days=14)


def _keys(conn: Any, ctx: AppContext) -> dict[str, Any]:
    now = ctx.clock.now()
    records = KeyRepository(conn).list()
    near = [
        r
        for r in records
        if r.status is KeyStatus.ACTIVE and as_utc(r.expires_at) - now <= NEAR_EXPIRY
    ]
    return {"counts": views.key_counts(conn), "near": sorted(near, key=lambda r: r.expires_at)}


def dashboard(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    data: dict[str, Any] = {}
    with ctx.db.read() as conn:
        if admin.can(scopes.USERS_READ) or admin.can(scopes.GROUPS_READ):
            data["directory"] = views.directory_counts(conn)
        if admin.can(at.CLIENTS_READ):
            data["clients"] = views.client_count(conn)
        if admin.can(at.KEYS_READ) and admin.has_second_factor:  # as the key pages require
            data["key_info"] = _keys(conn, ctx)
        if admin.can(at.AUDIT_READ):
            data["activity"] = views.newest_events(conn, views.EventFilter(action="scim.*"), 10)
            data["anomalies"] = views.newest_events(
                conn, views.EventFilter(action="key.anomaly.*"), 10
            )
        if admin.can(at.SSF_READ):
            data["outbox"] = OutboxRepository(conn).counts()
    return render(request, admin, "dashboard.html", data=data)


routes = [get("/console", dashboard, Rule())]
