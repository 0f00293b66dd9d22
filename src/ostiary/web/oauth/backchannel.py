"""OpenID Connect Back-Channel Logout 1.0: queue one logout token per client session in
the transaction that ends the session (section 2.5), deliver it from the outbox.

The outbox row holds the token's claims, not the token: the worker signs it at each
attempt (like the client's ID tokens: its ``id_token_signed_response_alg``, section
2.4), so a delivery retried after a backoff still carries a fresh ``iat``/``exp``;
``jti`` stays the same across attempts, so a relying party that saw it once can drop
the repeat (section 2.6).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx
from sqlalchemy import Connection

from ostiary.oidc.logout import logout_alg, logout_claims, sign_logout_token
from ostiary.signals.errors import DeliveryFailed
from ostiary.signals.outbox import OutboxMessage
from ostiary.store.repositories.outbox import OutboxBatch
from ostiary.store.repositories.session_clients import (
    ClientSession,
    SessionClientRepository,
    client_options,
)
from ostiary.web.workers.outbox import post

if TYPE_CHECKING:
    from ostiary.web.oauth.state import OAuthState

TOPIC = "backchannel_logout"
FORM = {"content-type": "application/x-www-form-urlencoded"}


def queue(
    conn: Connection,
    issuer: str,
    sessions: Iterable[ClientSession],
    now: datetime,
    batch: OutboxBatch | None = None,
) -> int:
    """Queue a logout token for each (session, client) whose client registered a
    ``backchannel_logout_uri``; returns how many were queued."""
    wanted = list(sessions)
    options = client_options(conn, (s.client_id for s in wanted))
    pairs = [(s, options[s.client_id]) for s in wanted if s.client_id in options]
    return _add(conn, issuer, pairs, now, batch)


def queue_for_sessions(
    conn: Connection,
    issuer: str,
    sids: Iterable[str],
    now: datetime,
    batch: OutboxBatch | None = None,
) -> int:
    """Every client each of ``sids`` issued tokens to (the sessions are being ended)."""
    ids = list(sids)
    if not ids:
        return 0
    pairs = SessionClientRepository(conn).of_sessions_with_options(ids)
    return _add(conn, issuer, pairs, now, batch)


def _add(
    conn: Connection,
    issuer: str,
    pairs: list[tuple[ClientSession, dict[str, object]]],
    now: datetime,
    batch: OutboxBatch | None,
) -> int:
    out = batch or OutboxBatch(now)
    queued = 0
    for s, options in pairs:
        if not options.get("backchannel_logout_uri"):
            continue
        claims = logout_claims(issuer, s.client_id, s.user_id, s.sid, secrets.token_urlsafe(16))
        out.add(TOPIC, s.client_id, {"claims": claims})
        queued += 1
    if batch is None:
        out.flush(conn)
    return queued


def sender(state: OAuthState, http: httpx.Client) -> Callable[[OutboxMessage], None]:
    def send(message: OutboxMessage) -> None:
        with state.ctx.db.read() as conn:
            options = client_options(conn, [message.destination]).get(message.destination)
        uri = (options or {}).get("backchannel_logout_uri")
        if not isinstance(uri, str) or not uri:
            raise DeliveryFailed("client removed or has no backchannel_logout_uri", retryable=False)
        alg = logout_alg(options or {})
        claims = message.payload["claims"]
        token = sign_logout_token(state.keyring.signer(alg), alg, claims, state.now())
        # Section 2.5: an HTTP POST with the token as the form parameter ``logout_token``.
        post(http, uri, urlencode({"logout_token": token}).encode("ascii"), FORM)

    return send
