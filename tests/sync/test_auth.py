"""private_key_jwt client authentication (RFC 7523 s2.2) for client_credentials
(RFC 6749 s4.4) with DPoP-bound tokens (RFC 9449 s4, s5, s7.1, s8 nonces), against a
token endpoint and resource gateway the test stands up."""

from __future__ import annotations

import pytest
from joserfc import jwk

from ostiary.sync.auth import ClientCredentialsAuth
from ostiary.sync.client import ScimClient
from ostiary.sync.errors import AuthError
from tests.sync.gateway import Behaviour, Gateway
from tests.sync.scimserver import TOKEN, list_all, scim2_server


@pytest.fixture
def upstream(tmp_path):
    with scim2_server(tmp_path) as url:
        yield url.removesuffix("/v2")


def _key() -> jwk.ECKey:
    return jwk.ECKey.generate_key("P-256")


def _client(gw: Gateway, key: jwk.ECKey) -> ScimClient:
    auth = ClientCredentialsAuth(
        token_endpoint=gw.token_url,
        client_id="sync-agent",
        private_key=key.as_pem(private=True).decode(),
    )
    return ScimClient(gw.scim_url, auth=auth, max_retries=0)


@pytest.mark.parametrize("nonce", [False, True], ids=["plain", "server-nonce"])
def test_private_key_jwt_and_dpop_reach_the_server(upstream, nonce):
    key = _key()
    behaviour = Behaviour(
        client_jwk=key.as_dict(private=False), upstream_token=TOKEN, require_nonce=nonce
    )
    with Gateway(upstream, behaviour) as gw:
        client = _client(gw, key)
        try:
            created = client.call(
                "POST",
                "/Users",
                body={
                    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                    "userName": "dpop",
                },
            )
            assert client.call("GET", f"/Users/{created['id']}")["userName"] == "dpop"
            assert len(behaviour.tokens) == 1  # one token, reused, each request a new proof
            assert len(behaviour.seen_jti) >= 3
            for _, _, headers, _ in gw.requests():
                assert headers["Authorization"].startswith("DPoP ")
        finally:
            client.close()
    assert [u["userName"] for u in list_all(f"{upstream}/v2", "Users")] == ["dpop"]


def test_wrong_client_key_is_refused(upstream):
    behaviour = Behaviour(client_jwk=_key().as_dict(private=False), upstream_token=TOKEN)
    with Gateway(upstream, behaviour) as gw:
        client = _client(gw, _key())  # not the registered key
        try:
            with pytest.raises(AuthError, match="HTTP 401"):
                client.call("GET", "/Users")
        finally:
            client.close()
