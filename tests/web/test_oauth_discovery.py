"""Discovery and JWKS (OpenID Connect Discovery 1.0 sections 3-4, RFC 8414 section 3,
RFC 7517 section 5) and signing keys sealed at rest (issue 6 point 1)."""

from __future__ import annotations

import base64

from joserfc import jwk
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.store.tables_oidc import oidc_signing_keys
from tests.support.deploy import Deployment


def test_metadata_documents_agree_and_point_at_real_endpoints(client: TestClient):
    oidc = client.get("/.well-known/openid-configuration")
    oauth = client.get("/.well-known/oauth-authorization-server")
    assert oidc.status_code == oauth.status_code == 200
    doc = oidc.json()
    assert doc == oauth.json()
    assert doc["issuer"] == "http://testserver"
    assert doc["grant_types_supported"] == [
        "authorization_code",
        "client_credentials",
        "refresh_token",
    ]
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]  # RFC 8414 2: no "plain"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256", "ES256", "EdDSA"]
    assert {"sub", "auth_time", "nonce", "sid", "email", "groups"} <= set(doc["claims_supported"])
    assert "ES256" in doc["dpop_signing_alg_values_supported"]
    # Truthful: every advertised endpoint answers (not 404).
    assert client.get(doc["jwks_uri"]).status_code == 200
    for name in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert client.post(doc[name], data={}).status_code in {400, 401}
    authorize = client.get(doc["authorization_endpoint"], follow_redirects=False)
    assert authorize.status_code == 400  # no client_id: an error page, not a 404
    assert client.get(doc["userinfo_endpoint"]).status_code == 401
    # RP-Initiated Logout 1.0 section 2.1: the end_session_endpoint answers (a page).
    assert client.get(doc["end_session_endpoint"]).status_code == 200


def test_jwks_publishes_public_keys_only_with_cache_control(client: TestClient):
    resp = client.get("/jwks")
    assert resp.headers["content-type"] == "application/jwk-set+json"
    assert resp.headers["cache-control"] == "public, max-age=600"
    keys = resp.json()["keys"]
    algs = sorted(k["alg"] for k in keys)
    # One active and one next key for each algorithm.
    assert algs == ["ES256", "ES256", "EdDSA", "EdDSA", "RS256", "RS256"]
    for k in keys:
        assert k["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & k.keys()
        assert jwk.import_key(k).thumbprint() == k["kid"]


def test_private_halves_are_sealed_in_the_vault(client: TestClient, deployment: Deployment):
    with deployment.db.read() as conn:
        rows = conn.execute(select(oidc_signing_keys)).all()
    assert rows
    for row in rows:
        assert row.sealed_private.startswith("v1.")
        assert b"PRIVATE KEY" not in row.sealed_private.encode()
        # The private scalar must not appear, in any encoding, in the stored row.
        assert "d" not in row.public_jwk
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    kid, key = client.app.state.oauth.keyring.signer("ES256")  # type: ignore[attr-defined]
    d = key.as_dict(private=True)["d"]
    raw = base64.urlsafe_b64decode(d + "==")
    sealed = next(r.sealed_private for r in rows if r.kid == kid)
    assert d not in sealed and raw.hex() not in sealed
    assert ctx.vault.open(sealed, f"signing_key:{kid}").startswith(b"-----BEGIN PRIVATE KEY")
