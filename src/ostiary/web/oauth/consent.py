"""The consent page (OIDC Core 3.1.2.4, issue 6 point 4).

Asked once per user and client for the scopes requested, again when a client asks for
more or sends ``prompt=consent``; clients registered with option ``first_party`` are
never asked. The decision comes back as a POST to /authorize carrying the original
parameters and a double-submit CSRF token (cookie scoped to /authorize, SameSite=Strict).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ostiary.oidc.clients import Client
from ostiary.store.repositories.consents import ConsentRepository
from ostiary.store.repositories.sessions import Session
from ostiary.web.oauth.csp import form_headers
from ostiary.web.oauth.login import TEMPLATES, secure_cookies
from ostiary.web.oauth.state import OAuthState

CSRF_COOKIE = "ostiary_consent_csrf"
FORM_ONLY = ("csrf_token", "decision")
# What each scope releases, in words a person can judge.
DESCRIBED = {
    "openid": "Your account identifier",
    "profile": "Your name, username and profile details",
    "email": "Your email address",
    "phone": "Your phone number",
    "address": "Your postal address",
    "groups": "The names of your groups",
    "offline_access": "Access while you are signed out (until you revoke it)",
}


def decision(request: Request, params: dict[str, str]) -> str | None:
    """``allow`` or ``deny`` from a consent form whose CSRF token checks out, else None."""
    value = params.get("decision")
    if request.method != "POST" or value not in {"allow", "deny"}:
        return None
    cookie = request.cookies.get(CSRF_COOKIE, "")
    given = params.get("csrf_token", "")
    if not cookie or not hmac.compare_digest(cookie.encode(), given.encode()):
        return None
    return value


def required(
    state: OAuthState,
    client: Client,
    session: Session,
    scope: str,
    prompts: set[str],
    decided: str | None,
) -> bool:
    if client.options.get("first_party") or decided is not None:
        return False
    if "consent" in prompts:
        return True
    with state.ctx.db.read() as conn:
        given = ConsentRepository(conn).scopes(session.user_id, client.id)
    return not set(scope.split()) <= given


def page(state: OAuthState, client: Client, scope: str, params: dict[str, str]) -> Response:
    csrf = secrets.token_urlsafe(32)
    kept = [(k, v) for k, v in params.items() if k not in FORM_ONLY and k != "prompt"]
    html = TEMPLATES.get_template("consent.html").render(
        client_name=client.name,
        items=[DESCRIBED[s] for s in scope.split() if s in DESCRIBED],
        params=kept,
        csrf_token=csrf,
    )
    # The decision redirects to the client: its (verified) redirect URI's origin is allowed.
    response = HTMLResponse(html, 200, headers=form_headers(params["redirect_uri"]))
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(state),
        path="/authorize",
    )
    return response
