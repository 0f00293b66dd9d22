"""Admin REST API for OAuth/OIDC clients (``/api/v1/clients``, issue 6 point 2): what
``ostiary clients`` does, over HTTP with an admin API token holding ``clients:read`` or
``clients:write``. Every change is audited with the token as the actor; a secret is in
the create and rotate-secret responses only."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from ostiary.core.errors import NotFound
from ostiary.keys import admin_tokens as at
from ostiary.oidc import clients as domain
from ostiary.store.repositories.clients import ClientRepository
from ostiary.web.admin.keys import Admin, _duration, _need
from ostiary.web.audit import request_info
from ostiary.web.oauth.client_admin import ClientAdmin

router = APIRouter(prefix="/api/v1", tags=["clients"])


class TokenSettings(BaseModel):
    id_token_signed_response_alg: str | None = Field(None, description="RS256, ES256, EdDSA")
    access_token_lifetime: int | None = Field(None, description="seconds, 30-900")
    id_token_lifetime: int | None = Field(None, description="seconds, 30-900")
    refresh_token_lifetime: int | None = Field(None, description="seconds (sliding)")

    def options(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, include=set(TokenSettings.model_fields))


class ClientCreate(TokenSettings):
    name: str = Field(min_length=1, max_length=200)
    client_type: str = Field("confidential", description="confidential or public")
    token_endpoint_auth_method: str | None = Field(
        None,
        description="client_secret_basic (default), client_secret_post, client_secret_jwt, "
        "private_key_jwt; none for public clients",
    )
    redirect_uris: list[str] = Field(default_factory=list, max_length=50)
    grant_types: list[str] = Field(["authorization_code", "refresh_token"], max_length=3)
    scopes: list[str] = Field(["openid", "profile", "email"], max_length=50)
    jwks: dict[str, Any] | None = Field(None, description="public JWK Set (private_key_jwt)")
    first_party: bool = Field(False, description="never show a consent page")
    owner: str | None = Field(
        None, max_length=256, description="user id or userName: deprovisioning them disables it"
    )


class ClientUpdate(TokenSettings):
    name: str | None = Field(None, min_length=1, max_length=200)
    redirect_uris: list[str] | None = Field(None, max_length=50, description="replaces all")
    scopes: list[str] | None = Field(None, max_length=50, description="replaces all")
    jwks: dict[str, Any] | None = None
    owner: str | None = Field(
        None, max_length=256, description="user id or userName: deprovisioning them disables it"
    )


class RotateSecret(BaseModel):
    overlap: str = Field("24h", description="how long the previous secret keeps working")


def _errors(exc: Exception) -> HTTPException:
    return HTTPException(404 if isinstance(exc, NotFound) else 400, str(exc))


def _service(request: Request, admin: Any, scope: str, conn: Any) -> ClientAdmin:
    ctx = request.app.state.ctx
    actor = _need(admin, scope)
    return ClientAdmin(conn, ctx.vault, actor, ctx.clock.now(), request_info(request))


@router.post("/clients", status_code=201)
def create_client(body: ClientCreate, request: Request, admin: Admin) -> dict[str, Any]:
    """Register a client. Its secret (``client_secret``) is in this response only."""
    options = body.options() | ({"first_party": True} if body.first_party else {})
    try:
        with request.app.state.ctx.db.begin() as conn:
            client, secret = _service(request, admin, at.CLIENTS_WRITE, conn).create(
                name=body.name,
                client_type=body.client_type,
                auth_method=body.token_endpoint_auth_method,
                redirect_uris=body.redirect_uris,
                grant_types=body.grant_types,
                scopes=body.scopes,
                jwks=body.jwks,
                options=options,
                owner=body.owner,
            )
    except domain.ClientError as exc:
        raise _errors(exc) from None
    return client.summary() | ({"client_secret": secret} if secret else {})


@router.get("/clients")
def list_clients(request: Request, admin: Admin) -> list[dict[str, Any]]:
    """Every client (never their secrets)."""
    _need(admin, at.CLIENTS_READ)
    ctx = request.app.state.ctx
    with ctx.db.read() as conn:
        return [c.summary() for c in ClientRepository(conn, ctx.vault).list()]


@router.get("/clients/{client_id}")
def show_client(client_id: str, request: Request, admin: Admin) -> dict[str, Any]:
    _need(admin, at.CLIENTS_READ)
    ctx = request.app.state.ctx
    with ctx.db.read() as conn:
        client = ClientRepository(conn, ctx.vault).get(client_id)
    if client is None:
        raise HTTPException(404, f"no client {client_id}")
    return client.summary()


@router.patch("/clients/{client_id}")
def update_client(
    client_id: str, body: ClientUpdate, request: Request, admin: Admin
) -> dict[str, Any]:
    """Change the name, redirect URIs, scopes, keys or token settings (others stay)."""
    try:
        with request.app.state.ctx.db.begin() as conn:
            client = _service(request, admin, at.CLIENTS_WRITE, conn).update(
                client_id,
                name=body.name,
                redirect_uris=body.redirect_uris,
                scopes=body.scopes,
                jwks=body.jwks,
                options=body.options(),
                owner=body.owner,
            )
    except (NotFound, domain.ClientError) as exc:
        raise _errors(exc) from None
    return client.summary()


@router.post("/clients/{client_id}/rotate-secret")
def rotate_client_secret(
    client_id: str, body: RotateSecret, request: Request, admin: Admin
) -> dict[str, Any]:
    """A new secret (in this response only); the previous one works until the overlap
    ends."""
    overlap = _duration(body.overlap, "overlap")
    assert overlap is not None
    try:
        with request.app.state.ctx.db.begin() as conn:
            service = _service(request, admin, at.CLIENTS_WRITE, conn)
            client, secret = service.rotate_secret(client_id, overlap)
    except (NotFound, domain.ClientError) as exc:
        raise _errors(exc) from None
    return client.summary() | {"client_secret": secret}


@router.delete("/clients/{client_id}", status_code=204)
def delete_client(client_id: str, request: Request, admin: Admin) -> Response:
    """Remove a client, its secrets, codes, tokens and consents."""
    try:
        with request.app.state.ctx.db.begin() as conn:
            _service(request, admin, at.CLIENTS_WRITE, conn).delete(client_id)
    except NotFound as exc:
        raise _errors(exc) from None
    return Response(status_code=204)
