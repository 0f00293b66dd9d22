"""Authenticating a registered relying party at the token endpoint (RFC 6749 section 2.3,
OIDC Core section 9) with the method it registered. Public clients send only
``client_id`` (method ``none``) and are held to PKCE instead."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request

from ostiary.oidc import id_token, tokens
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import InvalidRequest, OAuthError, UnauthorizedClient
from ostiary.store.repositories.clients import ClientRepository
from ostiary.web.oauth.client_auth import ClientAuthFailed, _basic
from ostiary.web.oauth.state import OAuthState


def _presented(authorization: str | None, form: dict[str, str]) -> tuple[str, str, str | None]:
    """(method, client_id, secret) as presented, before any check."""
    methods = []
    if authorization and authorization[:6].lower() == "basic ":
        methods.append("client_secret_basic")
    if "client_secret" in form:
        methods.append("client_secret_post")
    if "client_assertion" in form or "client_assertion_type" in form:
        methods.append("client_assertion")
    if len(methods) > 1:
        raise InvalidRequest("use exactly one client authentication method")
    if not methods:
        return "none", form.get("client_id", ""), None
    if methods[0] == "client_secret_basic":
        assert authorization is not None
        client_id, secret = _basic(authorization[6:])
        if form.get("client_id", client_id) != client_id:
            raise InvalidRequest("client_id differs from the authenticated client")
        return "client_secret_basic", client_id, secret
    if methods[0] == "client_secret_post":
        return "client_secret_post", form.get("client_id", ""), form["client_secret"]
    # JWT client assertions for relying parties are not wired into the code grant yet.
    raise ClientAuthFailed(form.get("client_id"), "client_assertion", "unsupported method")


def authenticate(
    state: OAuthState, conn: Connection, authorization: str | None, form: dict[str, str]
) -> Client:
    method, client_id, secret = _presented(authorization, form)
    basic = method == "client_secret_basic"
    client = ClientRepository(conn, state.ctx.vault).get(client_id) if client_id else None
    if client is None:
        raise ClientAuthFailed(client_id or None, method, "unknown client", basic=basic)
    if client.options.get("disabled"):  # its owner was deprovisioned (web/scim/owned.py)
        raise ClientAuthFailed(client_id, method, "client disabled", basic=basic)
    if client.auth_method != method:
        # A confidential client may not downgrade to "none", nor switch methods.
        raise ClientAuthFailed(
            client_id, method, f"registered for {client.auth_method}", basic=basic
        )
    if secret is not None and not client.secret_matches(secret, state.ctx.clock.now()):
        raise ClientAuthFailed(client_id, method, "wrong secret", basic=basic)
    return client


GrantStep = Callable[
    [Connection, Client, str, datetime, tuple[Any, Any]], dict[str, Any] | OAuthError
]


def run_grant(
    state: OAuthState,
    request: Request,
    form: dict[str, str],
    grant: str,
    param: str,
    step: GrantStep,
) -> dict[str, Any]:
    """What the relying-party grants share: the credential parameter, client
    authentication, the grant-type check and one transaction. ``step`` returns the token
    response, or an OAuth error raised only after the commit, so that a revocation it made
    (code or refresh token reuse) stands."""
    value = form.get(param)
    if not value:
        raise InvalidRequest(f"{param} is required")
    # Keys first: a due key reload writes (rotation), which must not nest in our transaction.
    signers = (state.keyring.signer(tokens.AT_ALG), state.keyring.signer(id_token.ID_ALG))
    now = state.ctx.clock.now()
    with state.ctx.db.begin() as conn:
        client = authenticate(state, conn, request.headers.get("authorization"), form)
        if grant not in client.grant_types:
            raise UnauthorizedClient(f"this client may not use the {grant} grant")
        outcome = step(conn, client, value, now, signers)
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome
