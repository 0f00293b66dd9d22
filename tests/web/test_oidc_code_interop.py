"""A relying-party library nobody here wrote (Authlib's httpx OAuth 2.0 client) completes
the OpenID Connect code flow with PKCE S256 against a real ``ostiary serve`` over HTTP
(issue 6 points 3, 5, 6): sign-in through the real login form (CSRF token and all), the
code exchange, an ID token verified through the published JWKS, UserInfo and a refresh."""

from __future__ import annotations

import html
import json
import re
import secrets
from pathlib import Path

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from joserfc import jwk, jwt

from tests.support.rp import PASSWORD, scim_user
from tests.support.server import free_port, run_cli, served


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    return {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
        "OSTIARY_ISSUER": f"http://127.0.0.1:{port}",
    }


def _cli_json(env: dict[str, str], tmp_path: Path, *args: str) -> dict:
    out = run_cli(*args, "--json", env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def _browser_sign_in(browser: httpx.Client, url: str, redirect_uri: str) -> str:
    """A user agent: follow redirects inside Ostiary, fill in the login form, stop at the
    relying party's redirect URI and return that URL. Allows on the consent page."""
    for _ in range(10):
        resp = browser.get(url)
        if resp.status_code == 200 and 'name="password"' in resp.text:  # sign-in page
            fields = dict(re.findall(r'name="(csrf_token|next)" value="([^"]*)"', resp.text))
            resp = browser.post(
                "/login",
                data={
                    "csrf_token": fields["csrf_token"],
                    "next": html.unescape(fields["next"]),
                    "username": "grace@example.com",
                    "password": PASSWORD,
                },
            )
        elif resp.status_code == 200 and 'name="decision"' in resp.text:  # consent page
            fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', resp.text))
            form = {k: html.unescape(v) for k, v in fields.items()}
            resp = browser.post("/authorize", data={**form, "decision": "allow"})
        assert resp.status_code in (302, 303), resp.text
        url = resp.headers["location"]
        if url.startswith(redirect_uri):
            return url
    raise AssertionError("the flow never reached the redirect URI")


def test_authlib_code_flow_with_pkce_against_a_served_ostiary(tmp_path: Path):
    port = free_port()
    env = _env(tmp_path, port)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    key = _cli_json(
        env,
        tmp_path,
        "keys",
        "create",
        "--name",
        "hr",
        "--scope",
        "users:read",
        "--scope",
        "users:write",
    )["key"]
    redirect_uri = f"http://127.0.0.1:{free_port()}/cb"
    rp_doc = _cli_json(
        env,
        tmp_path,
        "clients",
        "create",
        "--name",
        "wiki",
        "--redirect-uri",
        redirect_uri,
        "--scope",
        "openid",
        "--scope",
        "email",
        "--scope",
        "offline_access",
    )
    client_id = rp_doc.get("client_id") or rp_doc["id"]
    with served(env, tmp_path, tmp_path / "serve.log", port=port) as (base, _proc):
        with httpx.Client(base_url=base) as admin:
            user_id = scim_user(
                admin,
                key,
                user_name="grace@example.com",
                emails=[{"value": "grace@example.com", "primary": True}],
            )
        meta = httpx.get(f"{base}/.well-known/openid-configuration").json()
        rp = OAuth2Client(
            client_id,
            rp_doc["client_secret"],
            scope="openid email offline_access",
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method="client_secret_basic",
        )
        verifier = secrets.token_urlsafe(48)
        nonce = secrets.token_urlsafe(16)
        url, state = rp.create_authorization_url(
            meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
        )
        with httpx.Client(base_url=base) as browser:
            callback = _browser_sign_in(browser, url, redirect_uri)
        token = rp.fetch_token(
            meta["token_endpoint"],
            authorization_response=callback,
            code_verifier=verifier,
            state=state,
        )
        jwks = jwk.KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())
        claims = jwt.decode(token["id_token"], jwks, algorithms=["RS256"]).claims
        assert claims["iss"] == meta["issuer"] and claims["aud"] == client_id
        assert claims["sub"] == user_id and claims["nonce"] == nonce
        info = rp.get(meta["userinfo_endpoint"]).json()
        assert info == {"sub": user_id, "email": "grace@example.com", "email_verified": False}
        refreshed = rp.refresh_token(meta["token_endpoint"])
        assert refreshed["refresh_token"] != token["refresh_token"]
        again = jwt.decode(refreshed["id_token"], jwks, algorithms=["RS256"]).claims
        assert again["sub"] == user_id and again["auth_time"] == claims["auth_time"]
        rp.close()
