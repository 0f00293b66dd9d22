"""OIDC clients (applications): list and view (issue 9 point 2). Secrets never shown."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.keys import admin_tokens as at
from ostiary.store.repositories.clients import ClientRepository
from ostiary.web.console.guard import Admin, Rule, get, render
from ostiary.web.context import AppContext

READ = Rule(at.CLIENTS_READ)


def list_clients(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    with ctx.db.read() as conn:
        clients = ClientRepository(conn, ctx.vault).list()
    return render(request, admin, "clients.html", clients=clients)


def show_client(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    with ctx.db.read() as conn:
        client = ClientRepository(conn, ctx.vault).get(request.path_params["client_id"])
    if client is None:
        return render(request, admin, "not_found.html", 404, what="application")
    return render(request, admin, "client.html", client=client)


routes = [
    get("/console/clients", list_clients, READ),
    get("/console/clients/{client_id}", show_client, READ),
]
