"""The conformance harness: a served Ostiary, a user agent and a relying party.

The OpenID Foundation's suite drives a real browser against a deployed OP and plays the
relying party itself. Here the relying party is Authlib's httpx OAuth 2.0 client (a
library nobody here wrote), the browser is an httpx client with a cookie jar that fills
in Ostiary's real sign-in and consent forms, and the OP is ``ostiary serve`` over HTTP.
Every ID token is verified through the JWKS the discovery document points at.
"""

from __future__ import annotations

import html
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import OAuth2Client, OAuthError
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from ostiary.core.clock import SystemClock
from ostiary.store import bootstrap
from ostiary.store.repositories.registration_tokens import INITIAL, RegistrationTokenRepository
from tests.support.deploy import deploy
from tests.support.rp import PASSWORD, query_of, register, scim_user
from tests.support.server import free_port, served


def module(name: str) -> pytest.MarkDecorator:
    """Names the conformance-suite module a test mirrors (see conftest.py)."""
    return pytest.mark.module(name)


@dataclass(frozen=True)
class Client:
    client_id: str
    secret: str | None
    redirect_uri: str
    auth_method: str = "client_secret_basic"


@dataclass
class OP:
    """A served Ostiary with a provisioning key to create users over SCIM."""

    base: str
    tmp: Path
    env: dict[str, str]
    scim_key: str
    registrar: Any
    initial_token: str
    meta: dict[str, Any] = field(default_factory=dict)

    def client(
        self, client_id: str, *, auth_method: str = "client_secret_basic", **opts: Any
    ) -> Client:
        """Register a client straight in the store (what ``ostiary clients create`` does);
        its redirect URI is a loopback port nothing listens on: the user agent stops there."""
        redirect = f"http://127.0.0.1:{free_port()}/cb"
        secret = register(
            self.registrar,
            client_id=client_id,
            redirect_uris=(redirect, *opts.pop("extra_redirects", ())),
            auth_method=auth_method,
            **opts,
        )
        return Client(client_id, secret, redirect, auth_method)

    def register(self, **metadata: Any) -> httpx.Response:
        """RFC 7591 dynamic registration with the initial access token."""
        return httpx.post(
            self.meta["registration_endpoint"],
            json=metadata,
            headers={"Authorization": f"Bearer {self.initial_token}"},
        )

    def user(self, **extra: Any) -> tuple[str, str]:
        """A fresh user (so consent and throttling never leak between modules)."""
        name = f"u{secrets.token_hex(4)}@example.com"
        with httpx.Client(base_url=self.base) as http:
            return scim_user(http, self.scim_key, user_name=name, **extra), name


@contextmanager
def serve_op(tmp: Path, *, port: int | None = None, **env: str) -> Iterator[OP]:
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    dep = deploy(f"sqlite:///{tmp / 'ostiary.db'}", tmp)
    key = dep.make_key().token
    vault = bootstrap.open_vault(dep.settings, dep.db)
    ctx = SimpleNamespace(db=dep.db, vault=vault, clock=SystemClock())
    now = ctx.clock.now()
    with dep.db.begin() as conn:  # what `ostiary clients initial-token` does
        initial = RegistrationTokenRepository(conn, dep.pepper()).issue(
            INITIAL, now, expires_at=now + timedelta(hours=1)
        )
    full_env = {
        "OSTIARY_DATABASE_URL": dep.settings.database_url,
        "OSTIARY_MASTER_KEY_FILE": str(tmp / "master.key"),
        "OSTIARY_CONFIG": str(tmp / "none.toml"),
        "OSTIARY_ISSUER": issuer,
        "OSTIARY_LOG_LEVEL": "warning",
        **env,
    }
    try:
        with served(full_env, tmp, tmp / f"serve-{port}.log", port=port) as (base, _proc):
            registrar = SimpleNamespace(state=SimpleNamespace(ctx=ctx))
            op = OP(base, tmp, full_env, key, registrar, initial)
            op.meta = httpx.get(f"{base}/.well-known/openid-configuration").json()
            yield op
    finally:
        dep.db.dispose()


class ErrorPage(AssertionError):
    """Ostiary answered with an HTML error page instead of redirecting."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(f"error page {status}")
        self.status = status
        self.text = text


class Browser:
    """A user agent with a cookie jar: follows redirects inside Ostiary, fills in the
    sign-in form (counting how often it was asked to) and allows on the consent page; it
    stops at the relying party's redirect URI."""

    def __init__(self, op: OP, username: str, password: str = PASSWORD) -> None:
        self.http = httpx.Client(base_url=op.base)
        self.username = username
        self.password = password
        self.logins = 0
        self.login_pages: list[str] = []
        self.consents = 0

    def close(self) -> None:
        self.http.close()

    def go(self, url: str, redirect_uri: str, *, form: dict[str, str] | None = None) -> str:
        """Open ``url`` (POST ``form`` to it when given); returns the redirect URI reached."""
        resp = self.http.post(url, data=form) if form is not None else self.http.get(url)
        for _ in range(12):
            if resp.status_code == 200 and 'name="password"' in resp.text:
                resp = self._sign_in(resp.text)
            elif resp.status_code == 200 and 'name="decision"' in resp.text:
                resp = self._consent(resp.text)
            elif resp.status_code in (302, 303):
                location = resp.headers["location"]
                if location.startswith(redirect_uri):
                    return location
                resp = self.http.get(location)
            else:
                raise ErrorPage(resp.status_code, resp.text)
        raise AssertionError("the flow never reached the redirect URI")

    def _sign_in(self, page: str) -> httpx.Response:
        self.logins += 1
        self.login_pages.append(page)
        fields = dict(re.findall(r'name="(csrf_token|next)" value="([^"]*)"', page))
        return self.http.post(
            "/login",
            data={
                "csrf_token": fields["csrf_token"],
                "next": html.unescape(fields["next"]),
                "username": self.username,
                "password": self.password,
            },
        )

    def _consent(self, page: str) -> httpx.Response:
        self.consents += 1
        fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page))
        form = {k: html.unescape(v) for k, v in fields.items()}
        return self.http.post("/authorize", data={**form, "decision": "allow"})


@dataclass
class AuthRequest:
    url: str
    state: str
    nonce: str | None
    verifier: str | None


class RelyingParty:
    """Authlib's OAuth 2.0 client plus what an OpenID Connect RP checks (OIDC Core 3.1.3.7,
    3.1.3.8, 5.3.2); the last token endpoint response is kept for header checks."""

    def __init__(self, op: OP, client: Client, scope: str = "openid", **kwargs: Any) -> None:
        self.op = op
        self.meta = op.meta
        self.client = client
        self.responses: list[httpx.Response] = []
        self.oauth = OAuth2Client(
            client.client_id,
            client.secret,
            scope=scope,
            redirect_uri=client.redirect_uri,
            token_endpoint_auth_method=client.auth_method,
            event_hooks={"response": [self._keep]},
            **kwargs,
        )

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.responses.append(response)

    def close(self) -> None:
        self.oauth.close()

    def begin(self, *, nonce: bool = True, pkce: bool = False, **params: Any) -> AuthRequest:
        verifier = secrets.token_urlsafe(48) if pkce else None
        extra = dict(params)
        value = secrets.token_urlsafe(16) if nonce else None
        if value:
            extra["nonce"] = value
        if pkce:
            self.oauth.code_challenge_method = "S256"
        url, state = self.oauth.create_authorization_url(
            self.meta["authorization_endpoint"], code_verifier=verifier, **extra
        )
        return AuthRequest(url, state, value, verifier)

    def finish(self, req: AuthRequest, callback: str) -> dict[str, Any]:
        """Check the authorization response (state, RFC 9207 iss), redeem the code."""
        got = query_of(callback)
        assert got.get("iss") == self.meta["issuer"], got
        assert "error" not in got, got
        kwargs: dict[str, Any] = {"code_verifier": req.verifier} if req.verifier else {}
        token = dict(
            self.oauth.fetch_token(
                self.meta["token_endpoint"],
                authorization_response=callback,
                state=req.state,
                **kwargs,
            )
        )
        resp = self.responses[-1]
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("application/json")
        assert "no-store" in resp.headers.get("cache-control", "")  # RFC 6749 5.1
        assert token["token_type"].lower() == "bearer"
        assert isinstance(token["expires_in"], int) and token["expires_in"] > 0
        return token

    def jwks(self) -> dict[str, Any]:
        resp = httpx.get(self.meta["jwks_uri"])
        assert resp.status_code == 200
        return dict(resp.json())

    def id_token(
        self, token: dict[str, Any], *, nonce: str | None, max_age: int | None = None
    ) -> dict[str, Any]:
        """OIDC Core 3.1.3.7: signature through the published JWKS (RS256, a ``kid`` the JWKS
        holds), then the claims, with Authlib's own ID token rules on top."""
        raw = token["id_token"]
        header = extract_compact(raw.encode()).protected
        assert header["alg"] == "RS256"  # the default without registration (OIDC Core 3.1.3.7)
        keys = self.jwks()
        assert header.get("kid") in {k["kid"] for k in keys["keys"]}  # OIDC Core 10.1
        claims = dict(jwt.decode(raw, KeySet.import_key_set(keys), algorithms=["RS256"]).claims)
        params = {"nonce": nonce, "access_token": token.get("access_token"), "max_age": max_age}
        options = {
            "iss": {"essential": True, "value": self.meta["issuer"]},
            "aud": {"essential": True, "value": self.client.client_id},
            "sub": {"essential": True},
            "exp": {"essential": True},
            "iat": {"essential": True},
        }
        checked = CodeIDToken(claims, header, options=options, params=params)
        checked.validate(now=int(time.time()), leeway=5)
        assert isinstance(claims["sub"], str) and 0 < len(claims["sub"]) <= 255
        # the suite's ValidateIdToken: iat and auth_time near now (5 minutes of skew)
        now = time.time()
        assert abs(now - claims["iat"]) < 300
        assert now - 365 * 86400 < claims.get("auth_time", now) < now + 300
        assert claims.get("acr", "x") != ""
        if nonce is None:
            assert "nonce" not in claims
        if "azp" in claims:
            assert claims["azp"] == self.client.client_id
        return claims

    def userinfo(self, *, how: str = "get") -> httpx.Response:
        """OIDC Core 5.3.1 / RFC 6750 2.1, 2.2: GET or POST with the header, POST in the body."""
        url = self.meta["userinfo_endpoint"]
        if how == "get":
            return self.oauth.get(url)
        if how == "post":
            return self.oauth.post(url)
        access = self.oauth.token["access_token"]
        return httpx.post(url, data={"access_token": access})


def flow(rp: RelyingParty, browser: Browser, **params: Any) -> tuple[dict, dict]:
    """One authorization with ``params``, then the protected resource (UserInfo) with the
    access token, as every suite module does: (token response, verified ID token claims)."""
    req = rp.begin(**params)
    token = rp.finish(req, browser.go(req.url, rp.client.redirect_uri))
    claims = rp.id_token(token, nonce=req.nonce, max_age=params.get("max_age"))
    info = rp.userinfo()
    assert info.status_code == 200 and info.json()["sub"] == claims["sub"]  # OIDC Core 5.3.2
    return token, claims


def error_redirect(callback: str, req: AuthRequest, issuer: str) -> dict[str, str]:
    """An authorization error response (RFC 6749 4.1.2.1): the state comes back intact and
    so does ``iss`` (RFC 9207); the error is an ASCII code."""
    got = query_of(callback)
    assert got["state"] == req.state and got["iss"] == issuer
    assert re.fullmatch(r"[\x20-\x21\x23-\x5B\x5D-\x7E]+", got["error"])
    assert "code" not in got
    return got


# RFC 6749 5.2 / A.7: error_description is %x20-21 / %x23-5B / %x5D-7E
DESCRIPTION = re.compile(r"[\x20-\x21\x23-\x5B\x5D-\x7E]*")


def token_error(rp: RelyingParty, error: str) -> None:
    """RFC 6749 5.2: 400, JSON, the error code, a description in the allowed characters."""
    resp = rp.responses[-1]
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/json")
    body = resp.json()
    assert body["error"] == error
    assert DESCRIPTION.fullmatch(body.get("error_description", ""))


def reuse_code(rp: RelyingParty, browser: Browser, wait: float) -> dict[str, Any]:
    """AbstractOIDCCAuthCodeReuse: redeem a code, (wait), redeem it again: invalid_grant."""
    req = rp.begin()
    callback = browser.go(req.url, rp.client.redirect_uri)
    token = rp.finish(req, callback)
    rp.id_token(token, nonce=req.nonce)
    time.sleep(wait)
    with pytest.raises(OAuthError):
        rp.oauth.fetch_token(rp.meta["token_endpoint"], authorization_response=callback)
    token_error(rp, "invalid_grant")
    return token
