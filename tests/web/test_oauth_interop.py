"""A relying-party library nobody here wrote (Authlib's httpx OAuth 2.0 client) obtains
client_credentials tokens from a real ``ostiary serve`` over HTTP, with
client_secret_basic and with private_key_jwt (RFC 7523), and uses them at SCIM."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
from authlib.integrations.httpx_client import OAuth2Client
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc import jwk, jwt

from tests.support.server import free_port, run_cli, served

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _env(tmp_path: Path, port: int) -> dict[str, str]:
    return {
        "OSTIARY_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'ostiary.db'}",
        "OSTIARY_MASTER_KEY_FILE": str(tmp_path / "var" / "master.key"),
        "OSTIARY_CONFIG": str(tmp_path / "none.toml"),
        "OSTIARY_ISSUER": f"http://127.0.0.1:{port}",
    }


def _key(env: dict[str, str], tmp_path: Path) -> tuple[str, str]:
    out = run_cli(
        "keys",
        "create",
        "--name",
        "hr",
        "--scope",
        "users:read",
        "--scope",
        "users:write",
        "--json",
        env=env,
        cwd=tmp_path,
    )
    doc = json.loads(out.stdout)
    return doc["id"], doc["key"]


def test_authlib_client_credentials_against_a_served_ostiary(tmp_path: Path):
    port = free_port()
    env = _env(tmp_path, port)
    assert run_cli("init", env=env, cwd=tmp_path).returncode == 0
    key_id, secret = _key(env, tmp_path)
    signer = jwk.RSAKey.generate_key(2048)
    (tmp_path / "pub.json").write_text(json.dumps(signer.as_dict(private=False)))
    assert (
        run_cli(
            "key-oauth", "set", key_id, "--jwk", str(tmp_path / "pub.json"), env=env, cwd=tmp_path
        ).returncode
        == 0
    )
    with served(env, tmp_path, tmp_path / "serve.log", port=port) as (base, _proc):
        meta = httpx.get(f"{base}/.well-known/oauth-authorization-server").json()
        jwks = jwk.KeySet.import_key_set(httpx.get(meta["jwks_uri"]).json())

        with OAuth2Client(key_id, secret, token_endpoint_auth_method="client_secret_basic") as rp:
            token = rp.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
            claims = jwt.decode(token["access_token"], jwks, algorithms=["ES256"]).claims
            assert claims["client_id"] == key_id and token["token_type"] == "Bearer"
            created = rp.post(
                f"{base}/scim/v2/Users", json={"schemas": [USER], "userName": "lin@example.com"}
            )
            assert created.status_code == 201, created.text

        pem = signer.as_pem(private=True)
        with OAuth2Client(
            key_id,
            pem,
            token_endpoint_auth_method=PrivateKeyJWT(
                meta["token_endpoint"],
                alg="RS256",
                # Authlib defaults to exp one hour ahead; Ostiary allows five minutes at most.
                claims={"exp": int(time.time()) + 120},
            ),
        ) as rp:
            token = rp.fetch_token(meta["token_endpoint"], grant_type="client_credentials")
            assert (
                jwt.decode(token["access_token"], jwks, algorithms=["ES256"]).claims["sub"]
                == key_id
            )
            got = rp.get(created.headers["location"])
            assert got.status_code == 200
