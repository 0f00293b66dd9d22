"""OIDC clients (applications): list, view and delete (issue 9 point 2). Secrets are
never shown. Deleting is destructive (a recent sign-in is required) and goes through the
same ``ClientAdmin`` as ``DELETE /api/v1/clients/{id}``: the client, its secrets, codes,
tokens and consents go, audited as ``client.delete`` with the administrator as actor."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from ostiary.core.errors import NotFound
from ostiary.keys import admin_tokens as at
from ostiary.store.repositories.clients import ClientRepository
from ostiary.web.audit import request_info
from ostiary.web.console.guard import Admin, Rule, get, not_found, post, render, see_other
from ostiary.web.context import AppContext
from ostiary.web.oauth.client_admin import ClientAdmin

READ = Rule(at.CLIENTS_READ)
DELETE = Rule(at.CLIENTS_WRITE, fresh=True)


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
        return not_found(request, admin, "application")
    return render(request, admin, "client.html", client=client)


def delete_client(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    client_id = request.path_params["client_id"]
    try:
        with ctx.db.begin() as conn:
            service = ClientAdmin(
                conn, ctx.vault, admin.actor, ctx.clock.now(), request_info(request)
            )
            service.delete(client_id)
    except NotFound:
        return not_found(request, admin, "application")
    return see_other("/console/clients")


routes = [
    get("/console/clients", list_clients, READ),
    get("/console/clients/{client_id}", show_client, READ),
    post("/console/clients/{client_id}/delete", delete_client, DELETE),
]
