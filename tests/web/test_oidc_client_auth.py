"""Relying-party client authentication with JWT assertions (issue 6 point 2): OIDC Core
section 9 (``private_key_jwt``, ``client_secret_jwt``) and RFC 7523 section 3 (iss = sub =
client id, aud the issuer or the endpoint, exp bounded, jti single use), at /token,
/revoke and /introspect; secrets rotate with an overlap for every secret method."""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from joserfc import jwk, jwt
from starlette.testclient import TestClient

from ostiary.core import jose
from ostiary.core.clock import FrozenClock
from ostiary.oidc.client_assertion import ASSERTION_TYPE
from ostiary.oidc.clients import rotate_secret
from ostiary.store.repositories.clients import ClientRepository
from tests.support.deploy import Deployment
from tests.support.rp import REDIRECT, code_for, register, scim_user, verify_id_token

ISSUER = "http://testserver"


def _assertion(
    key: jwk.Key,
    alg: str,
    clock: FrozenClock,
    *,
    client_id: str = "rp1",
    aud: Any = ISSUER + "/token",
    exp_in: int = 60,
    jti: str | None = None,
    **override: Any,
) -> str:
    now = int(clock.now().timestamp())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + exp_in,
        "jti": secrets.token_urlsafe(12) if jti is None else jti,
        **override,
    }
    return jwt.encode({"alg": alg}, claims, key, registry=jose.registry([alg]))


def _form(assertion: str, **extra: str) -> dict[str, str]:
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": assertion, **extra}


def _exchange(client: TestClient, code: str, verifier: str, assertion: str):
    return client.post(
        "/token",
        data=_form(
            assertion,
            grant_type="authorization_code",
            code=code,
            redirect_uri=REDIRECT,
            code_verifier=verifier,
        ),
    )


def _user(client: TestClient, dep: Deployment) -> None:
    scim_user(client, dep.make_key(["users:read", "users:write"]).token)


def _pkj_client(client: TestClient) -> jwk.ECKey:
    key = jwk.ECKey.generate_key("P-256", auto_kid=True)
    register(
        client.app,
        auth_method="private_key_jwt",
        jwks={"keys": [key.as_dict(private=False)]},
    )
    return key


def test_private_key_jwt_at_token_endpoint(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """OIDC Core 9 private_key_jwt and RFC 7523 3: a signed assertion authenticates the
    code exchange; its jti is single use; iss/sub, aud, exp and the key are checked."""
    key = _pkj_client(client)
    _user(client, deployment)
    code, verifier = code_for(client)
    reused = _assertion(key, "ES256", clock)
    ok = _exchange(client, code, verifier, reused)
    assert ok.status_code == 200, ok.text
    verify_id_token(client, ok.json()["id_token"], audience="rp1")

    other = jwk.ECKey.generate_key("P-256", auto_kid=True)
    bad = {
        "replayed jti": reused,
        "foreign key": _assertion(other, "ES256", clock),
        "wrong iss": _assertion(key, "ES256", clock, iss="someone"),
        "wrong aud": _assertion(key, "ES256", clock, aud="https://elsewhere.example/token"),
        "exp too far": _assertion(key, "ES256", clock, exp_in=3600),
        "expired": _assertion(key, "ES256", clock, exp_in=-120),
        "no jti": _assertion(key, "ES256", clock, jti=""),
    }
    for reason, assertion in bad.items():
        code, verifier = code_for(client)
        refused = _exchange(client, code, verifier, assertion)
        assert refused.status_code == 401, reason
        assert refused.json()["error"] == "invalid_client", reason
    # The issuer is an accepted audience too (RFC 7523 3, point 3).
    code, verifier = code_for(client)
    by_issuer = _exchange(client, code, verifier, _assertion(key, "ES256", clock, aud=[ISSUER]))
    assert by_issuer.status_code == 200, by_issuer.text


def test_private_key_jwt_with_an_ed25519_key(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """OIDC Core 9 private_key_jwt with EdDSA (advertised in discovery)."""
    key = jwk.OKPKey.generate_key("Ed25519", auto_kid=True)
    register(client.app, auth_method="private_key_jwt", jwks={"keys": [key.as_dict(private=False)]})
    _user(client, deployment)
    code, verifier = code_for(client)
    assertion = _assertion(key, "EdDSA", clock)
    assert _exchange(client, code, verifier, assertion).status_code == 200


def test_registered_method_is_enforced(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """OIDC Core 9: a client authenticates with the method it registered, no other."""
    _pkj_client(client)
    secret = register(client.app, client_id="rp2", auth_method="client_secret_jwt")
    assert secret
    _user(client, deployment)
    code, verifier = code_for(client)
    # rp1 registered private_key_jwt: an HS256 assertion (even a well-formed one) fails.
    hs = jwk.OctKey.import_key(secret.encode())
    forged = _assertion(hs, "HS256", clock, client_id="rp1")
    assert _exchange(client, code, verifier, forged).status_code == 401
    code2, verifier2 = code_for(client, "rp2")
    basic = client.post(
        "/token",
        auth=("rp2", secret),
        data={
            "grant_type": "authorization_code",
            "code": code2,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier2,
        },
    )
    assert basic.status_code == 401 and basic.json()["error"] == "invalid_client"


def test_client_secret_jwt_and_rotation_overlap(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """OIDC Core 9 client_secret_jwt (HS256 under the secret); after a rotation the old
    secret still works during the overlap and stops after it (issue 6 point 2)."""
    old = register(client.app, auth_method="client_secret_jwt")
    assert old
    _user(client, deployment)
    code, verifier = code_for(client)
    old_key = jwk.OctKey.import_key(old.encode())
    ok = _exchange(client, code, verifier, _assertion(old_key, "HS256", clock))
    assert ok.status_code == 200, ok.text

    ctx = client.app.state.ctx
    with ctx.db.begin() as conn:
        repo = ClientRepository(conn, ctx.vault)
        new, ending = rotate_secret(repo.require("rp1"), clock.now(), timedelta(hours=1))
        repo.add_secret("rp1", new)
        for s in ending:
            assert s.not_after is not None
            repo.end_secret("rp1", s.version, s.not_after)
    new_key = jwk.OctKey.import_key(new.secret.encode())
    for key in (old_key, new_key):
        code, verifier = code_for(client)
        assert _exchange(client, code, verifier, _assertion(key, "HS256", clock)).status_code == 200
    clock.advance(timedelta(hours=1, seconds=1))
    code, verifier = code_for(client)
    late = _exchange(client, code, verifier, _assertion(old_key, "HS256", clock))
    assert late.status_code == 401
    code, verifier = code_for(client)
    assert _exchange(client, code, verifier, _assertion(new_key, "HS256", clock)).status_code == 200


def test_jwt_auth_at_revocation_and_introspection(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """RFC 7009 2.1 and RFC 7662 2.1 authenticate like the token endpoint; the endpoint's
    own URL is an accepted assertion audience (RFC 7523 3)."""
    key = _pkj_client(client)
    _user(client, deployment)
    code, verifier = code_for(client)
    access = _exchange(client, code, verifier, _assertion(key, "ES256", clock)).json()
    token = access["access_token"]
    seen = client.post(
        "/introspect",
        data=_form(_assertion(key, "ES256", clock, aud=ISSUER + "/introspect"), token=token),
    )
    assert seen.status_code == 200 and seen.json()["active"] is True
    unauth = client.post("/introspect", data={"token": token, "client_id": "rp1"})
    assert unauth.status_code == 401 and unauth.json()["error"] == "invalid_client"
    gone = client.post(
        "/revoke",
        data=_form(_assertion(key, "ES256", clock, aud=ISSUER + "/revoke"), token=token),
    )
    assert gone.status_code == 200
    after = client.post("/introspect", data=_form(_assertion(key, "ES256", clock), token=token))
    assert after.json() == {"active": False}


def test_discovery_lists_the_jwt_methods(client: TestClient):
    """OIDC Discovery 3: the methods and assertion algorithms the endpoints accept."""
    doc = client.get("/.well-known/openid-configuration").json()
    for endpoint in ("token", "revocation", "introspection"):
        methods = doc[f"{endpoint}_endpoint_auth_methods_supported"]
        assert {"client_secret_jwt", "private_key_jwt", "client_secret_basic"} <= set(methods)
        algs = doc[f"{endpoint}_endpoint_auth_signing_alg_values_supported"]
        assert "HS256" in algs and "ES256" in algs and "none" not in algs
