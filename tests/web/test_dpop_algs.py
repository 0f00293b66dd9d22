"""DPoP proofs in every algorithm discovery advertises (RFC 9449 section 4.3 check 5 and
section 5.1 ``dpop_signing_alg_values_supported``): each one binds a token at /token and
is accepted at the SCIM API; EdDSA passes without joserfc's deprecation warning (pytest
runs with warnings as errors). Section 7.1: challenges name the same algorithms."""

from __future__ import annotations

from dataclasses import replace

import pytest
from joserfc import jwk
from starlette.testclient import TestClient

from ostiary.oidc.dpop import DPOP_ALGS
from ostiary.store.repositories.keys import KeyRepository
from tests.support.deploy import Deployment
from tests.support.oauth import basic, dpop_proof

TOKEN_URL = "http://testserver/token"
USER_PATH = "/scim/v2/Users/00000000-0000-7000-8000-000000000000"
CC = {"grant_type": "client_credentials"}


def _proof_key(alg: str) -> jwk.Key:
    if alg.startswith("ES"):
        return jwk.ECKey.generate_key({"ES256": "P-256", "ES384": "P-384"}[alg])
    if alg == "EdDSA":
        return jwk.OKPKey.generate_key("Ed25519")
    return jwk.RSAKey.generate_key(2048)


def test_discovery_advertises_the_algorithms_proofs_are_checked_with(client: TestClient):
    """Section 5.1: the advertised list is exactly the verifier's, EdDSA included."""
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["dpop_signing_alg_values_supported"] == list(DPOP_ALGS)
    assert "EdDSA" in DPOP_ALGS


@pytest.mark.parametrize("alg", DPOP_ALGS)
def test_a_proof_in_each_advertised_alg_binds_and_is_accepted(
    client: TestClient, deployment: Deployment, alg: str
):
    """Section 4.3 check 5 (any asymmetric alg the server supports), section 6.1 cnf.jkt,
    section 7.1 (a bound token with a proof of the same key reaches the resource)."""
    proof_key = _proof_key(alg)
    key = deployment.make_key(["users:read"])
    proof = dpop_proof(proof_key, "POST", TOKEN_URL, alg=alg)
    resp = client.post("/token", data=CC, headers=basic(key.record.id, key.token) | {"DPoP": proof})
    assert resp.status_code == 200, resp.text
    assert resp.json()["token_type"] == "DPoP"
    token = resp.json()["access_token"]
    proof = dpop_proof(
        proof_key, "GET", "http://testserver" + USER_PATH, access_token=token, alg=alg
    )
    got = client.get(USER_PATH, headers={"Authorization": f"DPoP {token}", "DPoP": proof})
    assert got.status_code == 404, got.text  # authenticated: the user just does not exist


def test_dpop_required_challenge_names_every_supported_alg(
    client: TestClient, deployment: Deployment
):
    """Section 7.1: the ``algs`` of a DPoP challenge lists what proofs may be signed with,
    the same list as discovery (not ES256 alone)."""
    key = deployment.make_key(["users:read"])
    with deployment.db.begin() as conn:
        binding = replace(key.record.binding, require_dpop=True)
        KeyRepository(conn).set_binding(key.record.id, binding)
    resp = client.get(USER_PATH, headers={"Authorization": f"Bearer {key.token}"})
    assert resp.status_code == 401
    assert f'algs="{" ".join(DPOP_ALGS)}"' in resp.headers["www-authenticate"]
