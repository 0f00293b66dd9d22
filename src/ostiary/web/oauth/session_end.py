"""Ending one browser session, shared by ``/logout`` and the RP-initiated
``/end_session``: in one transaction the session ends, a back-channel logout token is
queued for every client it issued tokens to (Back-Channel Logout 1.0 section 2.5), its
refresh grants without ``offline_access`` are revoked (section 2.7), and the sign-out is
audited. The outbox worker is woken after the commit."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ostiary.audit.events import Actor, AuditEvent
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.sessions import Session, SessionRepository
from ostiary.store.repositories.user_tokens import revoke_online_grants
from ostiary.web.audit import request_info
from ostiary.web.oauth import backchannel
from ostiary.web.oauth.login import secure_cookies, session_cookie_name
from ostiary.web.oauth.state import OAuthState


def end(
    state: OAuthState, request: Request, cookie: str, *, via: str, client_id: str | None = None
) -> Session | None:
    """End the session ``cookie`` names (synchronous: call on a thread)."""
    now = state.ctx.clock.now()
    with state.ctx.db.begin() as conn:
        session = SessionRepository(conn).end(cookie, now)
        if session is None:
            return None
        queued = backchannel.queue_for_sessions(conn, state.issuer, [session.sid], now)
        grants = revoke_online_grants(conn, [session.sid], now)
        detail: dict[str, Any] = {
            "via": via,
            "backchannel_logouts_queued": queued,
            "online_grants_revoked": grants,
        }
        if client_id is not None:
            detail["client_id"] = client_id
        event = AuditEvent(
            action="auth.signout",
            actor=Actor(kind="user", id=session.user_id, auth="session"),
            target_type="session",
            target_id=session.sid,
            request=request_info(request),
            detail=detail,
        )
        AuditLog(conn).append(event, now)
    if queued and state.ctx._outbox is not None:
        state.ctx._outbox.kick()
    return session


def clear_cookie(state: OAuthState, response: Response) -> Response:
    response.delete_cookie(
        session_cookie_name(state),
        path="/",
        secure=secure_cookies(state),
        httponly=True,
        samesite="lax",
    )
    return response
