"""Authenticating a registered relying party at the token, revocation and introspection
endpoints (RFC 6749 section 2.3, OIDC Core section 9) with the method it registered:
``client_secret_basic``, ``client_secret_post``, ``client_secret_jwt`` or
``private_key_jwt``. Public clients send only ``client_id`` (method ``none``) and are held
to PKCE instead."""

from __future__ import annotations

from sqlalchemy import Connection

from ostiary.oidc.client_assertion import (
    ASSERTION_TYPE,
    unverified_subject,
    verify_assertion,
    verify_secret_assertion,
)
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import InvalidClient
from ostiary.store.repositories.clients import ClientRepository
from ostiary.web.oauth.client_auth import ClientAuthFailed, basic_credentials, presented_method
from ostiary.web.oauth.state import OAuthState

JWT_METHODS = frozenset({"private_key_jwt", "client_secret_jwt"})


def _presented(authorization: str | None, form: dict[str, str]) -> tuple[str, str, str | None]:
    """(method, client_id, credential) as presented, before any check. For a client
    assertion the method is ``client_assertion`` until the registration says which."""
    method = presented_method(authorization, form)
    if method is None:
        return "none", form.get("client_id", ""), None
    if method == "client_secret_basic":
        return "client_secret_basic", *basic_credentials(authorization, form)
    if method == "client_secret_post":
        return "client_secret_post", form.get("client_id", ""), form["client_secret"]
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise ClientAuthFailed(form.get("client_id"), "client_assertion", "wrong assertion type")
    assertion = form.get("client_assertion", "")
    client_id = unverified_subject(assertion)
    if form.get("client_id", client_id) != client_id:
        raise ClientAuthFailed(client_id, "client_assertion", "client_id differs from sub")
    return "client_assertion", client_id, assertion


def authenticate(
    state: OAuthState,
    conn: Connection,
    authorization: str | None,
    form: dict[str, str],
    endpoint: str | None = None,
) -> Client:
    """The registered client, authenticated by its registered method. ``endpoint`` is the
    URL of the endpoint called, also accepted as a client assertion's ``aud``."""
    method, client_id, credential = _presented(authorization, form)
    basic = method == "client_secret_basic"
    client = ClientRepository(conn, state.ctx.vault).get(client_id) if client_id else None
    if client is None:
        raise ClientAuthFailed(client_id or None, method, "unknown client", basic=basic)
    if client.options.get("disabled"):  # its owner was deprovisioned (web/scim/owned.py)
        raise ClientAuthFailed(client_id, method, "client disabled", basic=basic)
    if method == "client_assertion" and client.auth_method in JWT_METHODS:
        method = client.auth_method
    if client.auth_method != method:
        # A confidential client may not downgrade to "none", nor switch methods.
        raise ClientAuthFailed(
            client_id, method, f"registered for {client.auth_method}", basic=basic
        )
    now = state.ctx.clock.now()
    if method in JWT_METHODS:
        assert credential is not None
        _check_assertion(state, client, credential, endpoint)
    elif credential is not None and not client.secret_matches(credential, now):
        raise ClientAuthFailed(client_id, method, "wrong secret", basic=basic)
    return client


def _check_assertion(
    state: OAuthState, client: Client, assertion: str, endpoint: str | None
) -> None:
    """RFC 7523 section 3 / OIDC Core section 9, with the checks the provisioning keys'
    ``private_key_jwt`` uses (one implementation, one replay cache)."""
    audiences = {state.issuer, state.token_endpoint} | ({endpoint} if endpoint else set())
    common = {
        "client_id": client.id,
        "audiences": audiences,
        "now": state.now(),
        "max_lifetime": state.settings.client_assertion_max_lifetime_seconds,
        "replay": state.replay,
    }
    try:
        if client.auth_method == "private_key_jwt":
            if not (client.jwks and client.jwks.get("keys")):
                raise InvalidClient("no registered keys")
            verify_assertion(assertion, jwks=client.jwks, **common)
        else:
            live = client.live_secrets(state.ctx.clock.now())
            verify_secret_assertion(assertion, secrets=live, **common)
    except InvalidClient as exc:
        raise ClientAuthFailed(client.id, client.auth_method, exc.description) from None
