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

from ostiary.core import jose
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
    jwks: dict[str, Any] | None = None,
    options: dict[str, Any] | None = None,
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
        jwks=jwks,
        now=ctx.clock.now(),
        options=({"first_party": True} if first_party else {}) | (options or {}),
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
    registry = jose.registry(["RS256", "ES256", "EdDSA"])
    claims = dict(jwt.decode(token, jwks, registry=registry).claims)
    assert claims["aud"] == audience
    return claims


def code_for(
    http: Any, client_id: str = "rp1", scope: str = "openid", **extra: str
) -> tuple[str, str]:
    """Authorize (signing in if sent to /login) with PKCE; returns (code, verifier)."""
    verifier, challenge = pkce_pair()
    params = authorize_params(challenge, client_id, scope=scope, **extra)
    resp = http.get("/authorize", params=params, follow_redirects=False)
    if resp.headers["location"].startswith("/login"):
        back = sign_in(http, resp.headers["location"])
        resp = http.get(back.headers["location"], follow_redirects=False)
    location = resp.headers["location"]
    assert location.startswith(REDIRECT + "?"), location
    return query_of(location)["code"], verifier


def exchange(http: Any, code: str, verifier: str, client: tuple[str, str]) -> Any:
    """The code for tokens, authenticating with client_secret_basic (client id, secret)."""
    return http.post(
        "/token",
        auth=client,
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
    )


def enter_totp(http: Any, secret: bytes, unix_time: float, location: str = "/login/totp") -> Any:
    """Answer the second-factor page (RFC 6238) with the code for ``unix_time``; the 303."""
    from ostiary.directory import totp

    page = http.get(location)
    assert page.status_code == 200, page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    code = totp.totp(secret, unix_time)
    return http.post(
        location, data={"csrf_token": csrf.group(1), "code": code}, follow_redirects=False
    )


def authorize_params(challenge: str, client_id: str = "rp1", **extra: str) -> dict[str, str]:
    """An OIDC code-flow authorization request (OIDC Core 3.1.2.1) with PKCE S256."""
    return {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }


def code_flow_tokens(
    http: Any,
    scope: str = "openid offline_access",
    client_id: str = "rp1",
    secret: str | None = None,
    **login: str,
) -> dict[str, Any]:
    """The whole code flow with PKCE, signing in as ``login`` if needed: the token
    response. A public client sends its id; a confidential one, client_secret_basic."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    resp = http.get("/authorize", params=params, follow_redirects=False)
    if resp.headers["location"].startswith("/login"):
        back = sign_in(http, resp.headers["location"], **login)
        resp = http.get(back.headers["location"], follow_redirects=False)
    form = {
        "grant_type": "authorization_code",
        "code": query_of(resp.headers["location"])["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    if secret is None:
        token = http.post("/token", data=form | {"client_id": client_id})
    else:
        token = http.post("/token", data=form, auth=(client_id, secret))
    assert token.status_code == 200, token.text
    return dict(token.json())
