"""What the relying-party grants at the token endpoint (``authorization_code`` and
``refresh_token``) share: the credential parameter, client authentication, the
grant-type check and one transaction (``run_grant``), and inside it, on the
``GrantCall`` a grant step is handed, the user check, the issuance audit event and
revoking what a replayed code or refresh token was used for."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request

from ostiary.audit.events import Actor, AuditEvent
from ostiary.directory.models import User
from ostiary.oidc import id_token, tokens
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import InvalidGrant, InvalidRequest, OAuthError, UnauthorizedClient
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.revocations import RevocationRepository
from ostiary.store.repositories.users import UserRepository
from ostiary.web.audit import request_info
from ostiary.web.oauth import client_access
from ostiary.web.oauth.rp_auth import authenticate
from ostiary.web.oauth.state import OAuthState


@dataclass(frozen=True)
class GrantCall:
    """One token request, inside its transaction, with its client authenticated."""

    state: OAuthState
    conn: Connection
    request: Request
    form: dict[str, str]
    client: Client
    now: datetime
    signers: tuple[Any, Any]  # (access token signer, {alg: ID token signer})

    def user(self, user_id: str) -> User | InvalidGrant:
        """The grant's user if they may still sign in and use this client. A user the
        client's groups no longer admit (issue 7 point 1) loses what they hold for it, and
        the error is returned, not raised, so that the revocation is committed."""
        user = UserRepository(self.conn).get(user_id)
        if user is None or not user.active:
            raise InvalidGrant("the user can no longer sign in")
        if not client_access.allowed(self.conn, self.client.options, user.id):
            info = request_info(self.request)
            return client_access.refused(
                self.conn, self.state.issuer, user.id, self.client.id, self.now, info
            )
        return user

    def audit_issue(self, user_id: str, auth: str, jti: str, detail: dict[str, Any]) -> None:
        """The ``oauth.token.issue`` event for the access token ``jti``."""
        event = AuditEvent(
            action="oauth.token.issue",
            actor=Actor(kind="user", id=user_id, auth=auth, client_id=self.client.id),
            target_type="access_token",
            target_id=jti,
            request=request_info(self.request),
            detail=detail,
        )
        AuditLog(self.conn).append(event, self.now)

    def revoke_replayed(
        self,
        issued: list[tuple[str, datetime]],
        action: str,
        target: tuple[str, str | None],
        detail: dict[str, Any],
    ) -> None:
        """Revoke the access tokens ``issued`` ((jti, exp) pairs) from a code or refresh
        token presented again (RFC 6749 section 4.1.2, RFC 9700 section 4.14.2) and audit
        it as a failure of the client under ``action``, on ``target`` (type, id)."""
        revocations = RevocationRepository(self.conn)
        for jti, exp in issued:
            revocations.revoke(jti, self.client.id, exp, self.now)
        event = AuditEvent(
            action=action,
            actor=Actor(kind="client", id=self.client.id, auth=self.client.auth_method),
            outcome="failure",
            target_type=target[0],
            target_id=target[1],
            request=request_info(self.request),
            detail=detail,
        )
        AuditLog(self.conn).append(event, self.now)


GrantStep = Callable[[GrantCall, str], dict[str, Any] | OAuthError]


def run_grant(
    state: OAuthState,
    request: Request,
    form: dict[str, str],
    grant: str,
    param: str,
    step: GrantStep,
) -> dict[str, Any]:
    """Run ``step`` on the credential in ``param`` for an authenticated client allowed
    ``grant``, in one transaction. ``step`` returns the token response, or an OAuth error
    raised only after the commit, so that a revocation it made (code or refresh token
    reuse, a user the client no longer admits) stands."""
    value = form.get(param)
    if not value:
        raise InvalidRequest(f"{param} is required")
    # Keys first: a due key reload writes (rotation), which must not nest in our transaction.
    # The ID token signer depends on the client (id_token_signed_response_alg): take all.
    id_signers = {alg: state.keyring.signer(alg) for alg in id_token.ID_ALGS}
    signers = (state.keyring.signer(tokens.AT_ALG), id_signers)
    now = state.ctx.clock.now()
    with state.ctx.db.begin() as conn:
        client = authenticate(state, conn, request.headers.get("authorization"), form)
        if grant not in client.grant_types:
            raise UnauthorizedClient(f"this client may not use the {grant} grant")
        outcome = step(GrantCall(state, conn, request, form, client, now, signers), value)
    if isinstance(outcome, OAuthError):
        raise outcome
    return outcome
