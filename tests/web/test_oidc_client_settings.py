"""Per-client token settings (issue 6 points 1, 2 and 5): the ID token signing algorithm
(``id_token_signed_response_alg``, OIDC Dynamic Registration 1.0 section 2: RS256 by
default, ES256, EdDSA; OIDC Core 10.1: the key is in the published JWKS) and per-client
lifetimes of access, ID and (sliding) refresh tokens, from the client's options, the CLI
and dynamic registration metadata (RFC 7591 section 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from joserfc.jws import extract_compact
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy
from tests.support.rp import code_for, exchange, register, scim_user, verify_id_token


def _tokens(client: TestClient, client_id: str, secret: str, scope: str = "openid") -> dict:
    code, verifier = code_for(client, client_id, scope)
    resp = exchange(client, code, verifier, (client_id, secret))
    assert resp.status_code == 200, resp.text
    body: dict = resp.json()
    return body


def _header(token: str) -> dict:
    header: dict = extract_compact(token.encode()).protected
    return header


def _claims(token: str) -> dict:
    claims: dict = json.loads(extract_compact(token.encode()).payload)
    return claims


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_id_token_alg_per_client(client: TestClient, deployment: Deployment, alg: str):
    """OIDC Dynamic Registration 2 id_token_signed_response_alg; OIDC Core 10.1: signed by
    a key published in the JWKS with that algorithm; discovery lists all three."""
    options = {} if alg == "RS256" else {"id_token_signed_response_alg": alg}
    secret = register(client.app, options=options)
    assert secret
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    body = _tokens(client, "rp1", secret)
    header = _header(body["id_token"])
    assert header["alg"] == alg
    published = {k["kid"]: k for k in client.get("/jwks").json()["keys"]}
    assert published[header["kid"]]["alg"] == alg
    verify_id_token(client, body["id_token"], audience="rp1")
    assert _header(body["access_token"])["alg"] == "ES256"  # RFC 9068 tokens stay ES256
    doc = client.get("/.well-known/openid-configuration").json()
    assert alg in doc["id_token_signing_alg_values_supported"]


def test_lifetimes_per_client(client: TestClient, deployment: Deployment, clock: FrozenClock):
    """Issue 6 point 5: access, ID and sliding refresh token lifetimes per client."""
    options = {
        "access_token_lifetime": 300,
        "id_token_lifetime": 120,
        "refresh_token_lifetime": 3600,
    }
    secret = register(client.app, options=options)
    assert secret
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    body = _tokens(client, "rp1", secret, "openid offline_access")
    access, idt = _claims(body["access_token"]), _claims(body["id_token"])
    assert body["expires_in"] == 300 and access["exp"] - access["iat"] == 300
    assert idt["exp"] - idt["iat"] == 120
    refresh = body["refresh_token"]
    for _ in range(3):  # sliding: each rotation starts a new hour
        clock.advance(timedelta(minutes=50))
        resp = client.post(
            "/token",
            auth=("rp1", secret),
            data={"grant_type": "refresh_token", "refresh_token": refresh},
        )
        assert resp.status_code == 200, resp.text
        assert resp.json()["expires_in"] == 300
        refresh = resp.json()["refresh_token"]
    clock.advance(timedelta(minutes=61))
    late = client.post(
        "/token",
        auth=("rp1", secret),
        data={"grant_type": "refresh_token", "refresh_token": refresh},
    )
    assert late.status_code == 400 and late.json()["error"] == "invalid_grant"


def test_defaults_when_unset(client: TestClient, deployment: Deployment):
    """Issue 6 point 5 defaults: access and ID tokens 10 minutes, RS256."""
    secret = register(client.app)
    assert secret
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    body = _tokens(client, "rp1", secret)
    idt = _claims(body["id_token"])
    assert body["expires_in"] == 600 and idt["exp"] - idt["iat"] == 600
    assert _header(body["id_token"])["alg"] == "RS256"


@pytest.fixture
def reg(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Deployment]]:
    dep = deploy(database_url, tmp_path, dynamic_registration=True)
    app = create_app(dep.settings)
    with TestClient(app, base_url="http://testserver") as tc:
        yield tc, dep
    app.state.ctx.db.dispose()
    dep.db.dispose()


def test_dynamic_registration_metadata(reg: tuple[TestClient, Deployment]):
    """RFC 7591 2 and 3.2.1: the settings are registered, echoed and replaceable (RFC 7592
    2.2); bad values are invalid_client_metadata (RFC 7591 3.2.2)."""
    from tests.web.test_dynamic_registration import META, _initial

    client, dep = reg
    auth = {"Authorization": f"Bearer {_initial(dep)}"}
    meta = META | {"id_token_signed_response_alg": "EdDSA", "access_token_lifetime": 120}
    made = client.post("/register", json=meta, headers=auth)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["id_token_signed_response_alg"] == "EdDSA"
    assert body["access_token_lifetime"] == 120
    manage = {"Authorization": f"Bearer {body['registration_access_token']}"}
    put = META | {"client_id": body["client_id"], "refresh_token_lifetime": 86400}
    replaced = client.put(f"/register/{body['client_id']}", json=put, headers=manage)
    assert replaced.status_code == 200, replaced.text
    after = replaced.json()
    assert after["id_token_signed_response_alg"] == "RS256"  # replaced: back to the default
    assert after["refresh_token_lifetime"] == 86400 and "access_token_lifetime" not in after
    for bad in (
        {"id_token_signed_response_alg": "HS256"},
        {"id_token_signed_response_alg": "none"},
        {"access_token_lifetime": 3600},
        {"id_token_lifetime": "600"},
        {"refresh_token_lifetime": True},
    ):
        auth = {"Authorization": f"Bearer {_initial(dep)}"}
        refused = client.post("/register", json=META | bad, headers=auth)
        assert refused.status_code == 400, bad
        assert refused.json()["error"] == "invalid_client_metadata", bad


def test_eddsa_chain_rotates_like_the_others(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """Issue 6 point 1 (oidcc-server-rotate-keys): after a rotation an EdDSA client's ID
    tokens are signed by the promoted key, and the retired key stays published so tokens
    it signed still verify."""
    from ostiary.store.repositories.signing_keys import maintain

    secret = register(client.app, options={"id_token_signed_response_alg": "EdDSA"})
    assert secret
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    before = _tokens(client, "rp1", secret)["id_token"]
    old_kid = _header(before)["kid"]
    clock.advance(timedelta(minutes=12))  # the next key has been published long enough
    state = client.app.state.oauth
    with client.app.state.ctx.db.begin() as conn:
        maintain(conn, client.app.state.ctx.vault, clock.now(), state.keyring.policy, rotate=True)
    clock.advance(timedelta(seconds=61))  # every node reloads its keys within a minute
    after = _tokens(client, "rp1", secret)["id_token"]
    assert _header(after)["alg"] == "EdDSA" and _header(after)["kid"] != old_kid
    published = {k["kid"] for k in client.get("/jwks").json()["keys"]}
    assert {old_kid, _header(after)["kid"]} <= published
    verify_id_token(client, before, audience="rp1")
    verify_id_token(client, after, audience="rp1")
