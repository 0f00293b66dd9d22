"""DPoP (RFC 9449) at the token endpoint and the SCIM API, with real proofs built by
joserfc: section 4.3 checks, section 6.1 cnf.jkt, section 7.1 resource errors, section 8
server nonces, section 11.1 replay."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from joserfc import jwk, jwt
from starlette.testclient import TestClient

from ostiary.store.repositories.key_credentials import KeyCredentialRepository, KeyCredentials
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy
from tests.support.oauth import basic, dpop_proof, ec_key

TOKEN_URL = "http://testserver/token"
# An id nobody has: a call that passes authentication gets 404, one that fails gets 401.
USER_PATH = "/scim/v2/Users/00000000-0000-7000-8000-000000000000"
USERS_URL = "http://testserver" + USER_PATH
CC = {"grant_type": "client_credentials"}


def _bound_token(client: TestClient, deployment: Deployment, proof_key: jwk.Key) -> str:
    key = deployment.make_key(["users:read", "users:write"])
    proof = dpop_proof(proof_key, "POST", TOKEN_URL)
    resp = client.post("/token", data=CC, headers=basic(key.record.id, key.token) | {"DPoP": proof})
    assert resp.status_code == 200, resp.text
    assert resp.json()["token_type"] == "DPoP"
    return str(resp.json()["access_token"])


def _scim_get(client: TestClient, token: str, proof: str | None, scheme: str = "DPoP"):
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return client.get(USER_PATH, headers=headers)


def test_token_is_bound_to_the_proof_key(client: TestClient, deployment: Deployment):
    """Section 6.1: cnf.jkt is the RFC 7638 thumbprint of the proof's jwk."""
    proof_key = ec_key()
    token = _bound_token(client, deployment, proof_key)
    keys = jwk.KeySet.import_key_set(client.get("/jwks").json())
    claims = jwt.decode(token, keys, algorithms=["ES256"]).claims
    assert claims["cnf"] == {"jkt": proof_key.thumbprint()}


def test_bound_token_with_a_matching_proof_reaches_scim(client: TestClient, deployment: Deployment):
    proof_key = ec_key()
    token = _bound_token(client, deployment, proof_key)
    create_url = "http://testserver/scim/v2/Users"
    proof = dpop_proof(proof_key, "POST", create_url, access_token=token)
    doc = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "dp@ex.org"}
    created = client.post(
        "/scim/v2/Users", json=doc, headers={"Authorization": f"DPoP {token}", "DPoP": proof}
    )
    assert created.status_code == 201, created.text
    location = created.headers["location"]
    proof = dpop_proof(proof_key, "GET", location, access_token=token)
    got = client.get(location, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert got.status_code == 200, got.text


def _expect_dpop_error(resp, error: str = "invalid_dpop_proof") -> None:
    assert resp.status_code == 401, resp.text
    challenge = resp.headers["www-authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{error}"' in challenge
    assert 'algs="' in challenge


@pytest.mark.parametrize(
    "case", ["replayed", "wrong-htu", "wrong-htm", "stale-iat", "wrong-ath", "other-key", "typ"]
)
def test_bad_proofs_at_scim_are_invalid_dpop_proof(
    client: TestClient, deployment: Deployment, case: str
):
    """Section 4.3 checks 4, 8, 9, 11 and 12; section 7.1 error; section 11.1 replay."""
    proof_key = ec_key()
    token = _bound_token(client, deployment, proof_key)
    now = int(time.time())
    if case == "replayed":
        proof = dpop_proof(proof_key, "GET", USERS_URL, access_token=token)
        assert _scim_get(client, token, proof).status_code == 404
    else:
        proof = {
            "wrong-htu": lambda: dpop_proof(
                proof_key, "GET", "http://testserver/scim/v2/Groups/x", access_token=token
            ),
            "wrong-htm": lambda: dpop_proof(proof_key, "POST", USERS_URL, access_token=token),
            "stale-iat": lambda: dpop_proof(
                proof_key, "GET", USERS_URL, access_token=token, iat=now - 300
            ),
            "wrong-ath": lambda: dpop_proof(proof_key, "GET", USERS_URL, access_token=token + "x"),
            "other-key": lambda: dpop_proof(ec_key(), "GET", USERS_URL, access_token=token),
            "typ": lambda: dpop_proof(proof_key, "GET", USERS_URL, access_token=token, typ="JWT"),
        }[case]()
    _expect_dpop_error(_scim_get(client, token, proof))


def test_bound_token_without_proof_or_as_bearer_is_refused(
    client: TestClient, deployment: Deployment
):
    """Section 7.1 (DPoP scheme needs a proof) and 7.2 (bound token sent as Bearer)."""
    proof_key = ec_key()
    token = _bound_token(client, deployment, proof_key)
    _expect_dpop_error(_scim_get(client, token, None))
    proof = dpop_proof(proof_key, "GET", USERS_URL, access_token=token)
    as_bearer = _scim_get(client, token, proof, scheme="Bearer")
    assert as_bearer.status_code == 401
    assert 'error="invalid_token"' in as_bearer.headers["www-authenticate"]


def test_private_key_in_the_proof_header_is_refused(client: TestClient, deployment: Deployment):
    """Section 4.3 check 7: the jwk header must not contain a private key."""
    key = deployment.make_key()
    proof_key = ec_key()
    proof = dpop_proof(
        proof_key, "POST", TOKEN_URL, extra_header={"jwk": proof_key.as_dict(private=True)}
    )
    resp = client.post("/token", data=CC, headers=basic(key.record.id, key.token) | {"DPoP": proof})
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_dpop_proof"


@pytest.mark.parametrize("case", ["replayed", "wrong-htu", "wrong-htm", "stale-iat"])
def test_bad_proofs_at_the_token_endpoint(client: TestClient, deployment: Deployment, case):
    """Section 5: the token endpoint answers 400 invalid_dpop_proof."""
    key = deployment.make_key()
    proof_key = ec_key()
    auth = basic(key.record.id, key.token)
    proof = {
        "replayed": lambda: dpop_proof(proof_key, "POST", TOKEN_URL),
        "wrong-htu": lambda: dpop_proof(proof_key, "POST", "http://testserver/other"),
        "wrong-htm": lambda: dpop_proof(proof_key, "GET", TOKEN_URL),
        "stale-iat": lambda: dpop_proof(proof_key, "POST", TOKEN_URL, iat=int(time.time()) - 300),
    }[case]()
    if case == "replayed":
        assert client.post("/token", data=CC, headers=auth | {"DPoP": proof}).status_code == 200
    resp = client.post("/token", data=CC, headers=auth | {"DPoP": proof})
    assert resp.status_code == 400
    assert resp.json()["error"] == "invalid_dpop_proof"


def test_key_that_requires_dpop_gets_no_bearer_token(client: TestClient, deployment: Deployment):
    """Issue 4 point 6: a key set to require DPoP is refused bearer tokens."""
    key = deployment.make_key()
    with deployment.db.begin() as conn:
        creds = KeyCredentials(key.record.id, require_dpop=True)
        KeyCredentialRepository(conn).put(creds, datetime.now(UTC))
    auth = basic(key.record.id, key.token)
    plain = client.post("/token", data=CC, headers=auth)
    assert plain.status_code == 400 and plain.json()["error"] == "invalid_dpop_proof"
    bound = client.post(
        "/token", data=CC, headers=auth | {"DPoP": dpop_proof(ec_key(), "POST", TOKEN_URL)}
    )
    assert bound.status_code == 200 and bound.json()["token_type"] == "DPoP"


@pytest.fixture
def nonce_client(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Deployment]]:
    dep = deploy(database_url, tmp_path, dpop_nonce_required=True)
    app = create_app(dep.settings)
    with TestClient(app, base_url="http://testserver") as tc:
        yield tc, dep
    app.state.ctx.db.dispose()
    dep.db.dispose()


def test_server_nonce_round_trip(nonce_client: tuple[TestClient, Deployment]):
    """Section 8: use_dpop_nonce with a DPoP-Nonce header, then success with the nonce,
    at the token endpoint (400) and at the resource server (401)."""
    client, dep = nonce_client
    key = dep.make_key(["users:read"])
    auth = basic(key.record.id, key.token)
    proof_key = ec_key()
    first = client.post(
        "/token", data=CC, headers=auth | {"DPoP": dpop_proof(proof_key, "POST", TOKEN_URL)}
    )
    assert first.status_code == 400 and first.json()["error"] == "use_dpop_nonce"
    nonce = first.headers["dpop-nonce"]
    proof = dpop_proof(proof_key, "POST", TOKEN_URL, nonce=nonce)
    second = client.post("/token", data=CC, headers=auth | {"DPoP": proof})
    assert second.status_code == 200, second.text
    token = second.json()["access_token"]
    no_nonce = _scim_get(client, token, dpop_proof(proof_key, "GET", USERS_URL, access_token=token))
    _expect_dpop_error(no_nonce, "use_dpop_nonce")
    assert no_nonce.headers["dpop-nonce"]
    bad = _scim_get(
        client, token, dpop_proof(proof_key, "GET", USERS_URL, access_token=token, nonce="1.forged")
    )
    _expect_dpop_error(bad, "use_dpop_nonce")
    ok = _scim_get(
        client,
        token,
        dpop_proof(
            proof_key, "GET", USERS_URL, access_token=token, nonce=no_nonce.headers["dpop-nonce"]
        ),
    )
    assert ok.status_code == 404
