"""A relying party's side of the code flow, over real HTTP against the app."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet

from ostiary.oidc.clients import build
from ostiary.store.repositories.clients import ClientRepository

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PASSWORD = "correct horse battery staple"
REDIRECT = "https://rp.example.com/cb"


def register(
    app: Any,
    *,
    client_type: str = "confidential",
    client_id: str = "rp1",
    scopes: tuple[str, ...] = (
        "openid",
        "profile",
        "email",
        "groups",
        "phone",
        "address",
        "offline_access",
    ),
    redirect_uris: tuple[str, ...] = (REDIRECT,),
    grant_types: tuple[str, ...] = ("authorization_code", "refresh_token"),
    first_party: bool = True,
    auth_method: str | None = None,
) -> str | None:
    """Register a client directly in the store (what ``ostiary clients create`` does)."""
    ctx = app.state.ctx
    client, secret = build(
        client_id=client_id,
        name=client_id,
        client_type=client_type,
        auth_method=auth_method,
        redirect_uris=list(redirect_uris),
        grant_types=list(grant_types),
        scopes=list(scopes),
        jwks=None,
        now=ctx.clock.now(),
        options={"first_party": True} if first_party else None,
    )
    with ctx.db.begin() as conn:
        ClientRepository(conn, ctx.vault).add(client)
    return secret


def scim_user(
    http: httpx.Client | Any, token: str, user_name: str = "ada@example.com", **extra: Any
) -> str:
    resp = http.post(
        "/scim/v2/Users",
        json={"schemas": [USER], "userName": user_name, "password": PASSWORD, **extra},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign_in(
    http: Any, login_location: str, username: str = "ada@example.com", password: str = PASSWORD
) -> Any:
    """Follow a redirect to /login, post the form (with its CSRF token); returns the 303."""
    page = http.get(login_location)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    nxt = re.search(r'name="next" value="([^"]+)"', page.text)
    assert csrf and nxt
    import html

    return http.post(
        "/login",
        data={
            "csrf_token": csrf.group(1),
            "username": username,
            "password": password,
            "next": html.unescape(nxt.group(1)),
        },
        follow_redirects=False,
    )


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def verify_id_token(http: Any, token: str, *, audience: str) -> dict[str, Any]:
    """Verify an ID token against the published JWKS (as any relying party would)."""
    jwks = KeySet.import_key_set(http.get("/jwks").json())
    claims = dict(jwt.decode(token, jwks, algorithms=["RS256"]).claims)
    assert claims["aud"] == audience
    return claims
