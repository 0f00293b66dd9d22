"""OIDC Core 3.1.2.1 request parameters at /authorize (issue 6 point 3): id_token_hint
(verified against our keys, expired allowed; another user signed in is login_required
with prompt=none, else a new sign-in), acr_values (voluntary, OIDC Core 5.5.1.1; unmet
with prompt=none is login_required; the ID token carries acr, OIDC Core 2), ui_locales
and claims_locales (accepted; discovery lists what is supported)."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from joserfc import jwk, jwt
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from tests.support.deploy import Deployment
from tests.support.rp import (
    REDIRECT,
    code_for,
    exchange,
    query_of,
    register,
    scim_user,
    sign_in,
    verify_id_token,
)

PWD = "urn:ostiary:acr:pwd"
MFA = "urn:ostiary:acr:mfa"


def _params(**extra: str) -> dict[str, str]:
    return {
        "response_type": "code",
        "client_id": "rp1",
        "redirect_uri": REDIRECT,
        "scope": "openid",
        "state": "s",
        **extra,
    }


def _authorize(client: TestClient, **extra: str):
    return client.get("/authorize", params=_params(**extra), follow_redirects=False)


def _id_token(client: TestClient, secret: str) -> str:
    code, verifier = code_for(client)
    resp = exchange(client, code, verifier, ("rp1", secret))
    assert resp.status_code == 200, resp.text
    return str(resp.json()["id_token"])


def _setup(client: TestClient, dep: Deployment) -> str:
    secret = register(client.app)
    assert secret
    key = dep.make_key(["users:read", "users:write"]).token
    scim_user(client, key)
    scim_user(client, key, user_name="bob@example.com")
    return secret


def test_id_token_hint(client: TestClient, deployment: Deployment, clock: FrozenClock):
    """OIDC Core 3.1.2.1 id_token_hint, 3.1.2.6 login_required."""
    secret = _setup(client, deployment)
    ada = _id_token(client, secret)  # signed in as ada
    clock.advance(timedelta(hours=1))  # the hint has expired: still a valid hint
    same = _authorize(client, prompt="none", id_token_hint=ada)
    assert "code" in query_of(same.headers["location"]), same.headers["location"]
    # Bob signs in in this browser; a hint naming Ada no longer matches.
    login = _authorize(client, prompt="login")
    back = sign_in(client, login.headers["location"], username="bob@example.com")
    as_bob = client.get(back.headers["location"], follow_redirects=False)
    assert "code" in query_of(as_bob.headers["location"])
    refused = _authorize(client, prompt="none", id_token_hint=ada)
    assert query_of(refused.headers["location"])["error"] == "login_required"
    relogin = _authorize(client, id_token_hint=ada)
    location = relogin.headers["location"]
    assert location.startswith("/login?")
    nxt = parse_qs(urlsplit(location).query)["next"][0]
    assert "id_token_hint" not in nxt and "client_id=rp1" in nxt
    # A hint we did not sign, or one for another client, is invalid_request.
    forged_key = jwk.RSAKey.generate_key(2048, auto_kid=True)
    claims = {"iss": "http://testserver", "sub": "x", "aud": "rp1", "exp": 1, "iat": 1}
    forged = jwt.encode({"alg": "RS256", "kid": forged_key.kid}, claims, forged_key)
    for bad in (forged, "not-a-jwt", ada[:-4] + "AAAA"):
        resp = _authorize(client, prompt="none", id_token_hint=bad)
        assert query_of(resp.headers["location"])["error"] == "invalid_request", bad
    register(client.app, client_id="rp2")
    other = client.get(
        "/authorize",
        params=_params(client_id="rp2", prompt="none", id_token_hint=ada),
        follow_redirects=False,
    )
    assert query_of(other.headers["location"])["error"] == "invalid_request"


def test_acr_values(client: TestClient, deployment: Deployment):
    """OIDC Core 3.1.2.1 acr_values and 2 acr: a password sign-in is urn:ostiary:acr:pwd;
    an unmet request fails prompt=none with login_required and is otherwise voluntary."""
    secret = _setup(client, deployment)
    claims = verify_id_token(client, _id_token(client, secret), audience="rp1")
    assert claims["acr"] == PWD
    unmet = _authorize(client, prompt="none", acr_values=MFA)
    assert query_of(unmet.headers["location"])["error"] == "login_required"
    met = _authorize(client, prompt="none", acr_values=f"{MFA} {PWD}")
    assert "code" in query_of(met.headers["location"])
    voluntary = _authorize(client, acr_values=MFA)
    assert voluntary.headers["location"].startswith(REDIRECT + "?code=")
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["acr_values_supported"] == [PWD, MFA] and "acr" in doc["claims_supported"]


def test_locales_are_accepted_and_advertised(client: TestClient, deployment: Deployment):
    """OIDC Core 3.1.2.1 ui_locales and claims_locales; OIDC Discovery 3."""
    _setup(client, deployment)
    code, _ = code_for(client, ui_locales="fr-CA en", claims_locales="de en")
    assert code
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["ui_locales_supported"] == ["en"] and doc["claims_locales_supported"] == ["en"]


def test_claims_request_parameter(client: TestClient, deployment: Deployment):
    """OIDC Core 5.5: individually requested claims go where asked (ID token or UserInfo),
    also after a refresh; unknown claims are ignored (5.5.1); only claims of scopes the
    client is registered for are released; a malformed parameter is invalid_request;
    discovery says claims_parameter_supported."""
    secret = register(client.app)
    secret2 = register(client.app, client_id="rp2", scopes=("openid",))
    assert secret and secret2
    key = deployment.make_key(["users:read", "users:write", "groups:write"]).token
    user_id = scim_user(
        client,
        key,
        name={"givenName": "Ada", "familyName": "Lovelace"},
        emails=[{"value": "ada@work.example", "primary": True}],
    )
    group = client.post(
        "/scim/v2/Groups",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "engineers",
            "members": [{"value": user_id}],
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    assert group.status_code == 201
    request = (
        '{"id_token": {"email": {"essential": true}, "groups": null},'
        ' "userinfo": {"given_name": null, "x-unknown": null}}'
    )
    code, verifier = code_for(client, scope="openid offline_access", claims=request)
    tokens = exchange(client, code, verifier, ("rp1", secret)).json()
    idt = verify_id_token(client, tokens["id_token"], audience="rp1")
    assert idt["email"] == "ada@work.example" and idt["groups"] == ["engineers"]
    assert "given_name" not in idt
    info = client.get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert info.json() == {"sub": user_id, "given_name": "Ada"}  # scope openid only
    refreshed = client.post(
        "/token",
        auth=("rp1", secret),
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    ).json()
    again = verify_id_token(client, refreshed["id_token"], audience="rp1")
    assert again["email"] == "ada@work.example"
    # rp2 is registered for openid only: an individual request releases nothing more.
    code2, verifier2 = code_for(client, "rp2", claims='{"id_token": {"email": null}}')
    other = exchange(client, code2, verifier2, ("rp2", secret2))
    assert other.status_code == 200, other.text
    assert "email" not in verify_id_token(client, other.json()["id_token"], audience="rp2")
    for bad in ("{", "[]", '{"id_token": []}'):
        resp = _authorize(client, claims=bad)
        assert query_of(resp.headers["location"])["error"] == "invalid_request", bad
    assert client.get("/.well-known/openid-configuration").json()["claims_parameter_supported"]
