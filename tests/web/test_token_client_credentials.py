"""client_credentials for provisioning keys (RFC 6749 section 4.4; issue 4 point 6):
client_secret_basic/post with the key as the secret (RFC 6749 section 2.3.1),
private_key_jwt (RFC 7523 section 3), RFC 9068 access tokens accepted by SCIM."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from joserfc import jwk, jwt
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.keys.models import KeyStatus
from ostiary.store.repositories.audit import AuditQuery, AuditReader
from ostiary.store.repositories.key_credentials import KeyCredentialRepository, KeyCredentials
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.tables_audit import audit_events
from tests.support.deploy import Deployment
from tests.support.oauth import assertion_form, basic, client_assertion, ec_key

CC = {"grant_type": "client_credentials"}
USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _token(client: TestClient, key_id: str, secret: str, **form: str) -> dict:
    resp = client.post("/token", data=CC | form, headers=basic(key_id, secret))
    assert resp.status_code == 200, resp.text
    return resp.json()


def _decode(client: TestClient, token: str) -> jwt.Token:
    keys = jwk.KeySet.import_key_set(client.get("/jwks").json())
    return jwt.decode(token, keys, algorithms=["ES256"])


def _actions(deployment: Deployment) -> list[tuple[str, str, dict]]:
    with deployment.db.read() as conn:
        rows = conn.execute(select(audit_events).order_by(audit_events.c.seq)).all()
    # The outcome is in the entry only (migration 0024).
    entries = [(r.action, orjson.loads(r.entry)) for r in rows]
    return [(action, entry["outcome"], entry) for action, entry in entries]


def test_basic_auth_issues_an_rfc9068_token(client: TestClient, deployment: Deployment):
    """RFC 9068 section 2.1 (typ at+jwt) and 2.2 (claims); RFC 6749 section 5.1 no-store."""
    key = deployment.make_key(["users:read", "users:write"])
    resp = client.post("/token", data=CC, headers=basic(key.record.id, key.token))
    assert resp.status_code == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "users:read users:write"
    assert 0 < body["expires_in"] <= 900
    tok = _decode(client, body["access_token"])
    assert tok.header["typ"] == "at+jwt" and tok.header["alg"] == "ES256"
    c = tok.claims
    assert c["iss"] == "http://testserver" and c["aud"] == "http://testserver/scim/v2"
    assert c["sub"] == c["client_id"] == key.record.id
    assert c["exp"] - c["iat"] == body["expires_in"]
    assert c["jti"] and "cnf" not in c
    issued = [e for a, _, e in _actions(deployment) if a == "oauth.token.issue"]
    assert len(issued) == 1
    assert issued[0]["target"]["id"] == c["jti"]
    assert issued[0]["actor"]["auth"] == "client_secret_basic"
    assert key.token not in str(issued) and body["access_token"] not in str(issued)


def test_client_secret_post_and_scope_narrowing(client: TestClient, deployment: Deployment):
    key = deployment.make_key(["users:read", "users:write"])
    form = CC | {"client_id": key.record.id, "client_secret": key.token, "scope": "users:read"}
    resp = client.post("/token", data=form)
    assert resp.status_code == 200
    assert resp.json()["scope"] == "users:read"
    wider = form | {"scope": "users:read groups:write"}
    refused = client.post("/token", data=wider)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_scope"


@pytest.mark.parametrize("case", ["wrong-secret", "other-key", "garbage", "none"])
def test_bad_client_credentials_are_invalid_client(
    client: TestClient, deployment: Deployment, case: str
):
    """RFC 6749 section 5.2: invalid_client, 401 with a Basic challenge; audited."""
    key = deployment.make_key()
    other = deployment.make_key()
    headers = {
        "wrong-secret": basic(key.record.id, key.token[:-8] + "AAAAAAAA"),
        "other-key": basic(key.record.id, other.token),
        "garbage": {"Authorization": "Basic !!!"},
        "none": {},
    }[case]
    resp = client.post("/token", data=CC, headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"] == "invalid_client"
    assert resp.headers["www-authenticate"].startswith("Basic")
    assert ("oauth.client_auth.refused", "failure") in [(a, o) for a, o, _ in _actions(deployment)]
    # Issue 5 point 3: the failure is found through audit_outcomes (migration 0030), also
    # when the OAuth group commit holds SQLite's transaction itself.
    with deployment.db.read() as conn:
        failures, _ = AuditReader(conn).search(AuditQuery(outcome="failure"))
    assert [e["action"] for e in failures] == ["oauth.client_auth.refused"]


def test_disabled_key_cannot_get_a_token(client: TestClient, deployment: Deployment):
    key = deployment.make_key()
    with deployment.db.begin() as conn:
        KeyRepository(conn).set_status(key.record.id, KeyStatus.DISABLED, datetime.now(UTC))
    resp = client.post("/token", data=CC, headers=basic(key.record.id, key.token))
    assert resp.status_code == 401


@pytest.mark.parametrize(
    ("form", "headers", "error"),
    [
        ({"grant_type": "password"}, None, "unsupported_grant_type"),
        ({}, None, "invalid_request"),
        (None, {"Content-Type": "application/json"}, "invalid_request"),
    ],
)
def test_malformed_requests_get_oauth_errors(
    client: TestClient, deployment: Deployment, form, headers, error
):
    key = deployment.make_key()
    auth = basic(key.record.id, key.token)
    if form is None:
        resp = client.post(
            "/token", content=b'{"grant_type":"client_credentials"}', headers=auth | headers
        )
    else:
        resp = client.post("/token", data=form, headers=auth)
    assert resp.status_code == 400
    assert resp.json()["error"] == error


def test_repeated_parameter_is_invalid_request(client: TestClient, deployment: Deployment):
    """RFC 6749 section 3.2: parameters MUST NOT be included more than once."""
    key = deployment.make_key()
    body = b"grant_type=client_credentials&grant_type=client_credentials"
    resp = client.post(
        "/token",
        content=body,
        headers=basic(key.record.id, key.token)
        | {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


def test_two_authentication_methods_are_refused(client: TestClient, deployment: Deployment):
    """RFC 6749 section 2.3: a client MUST NOT use more than one method."""
    key = deployment.make_key()
    form = CC | {"client_id": key.record.id, "client_secret": key.token}
    resp = client.post("/token", data=form, headers=basic(key.record.id, key.token))
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


def _register(deployment: Deployment, key_id: str, public: jwk.Key, **kw: bool) -> None:
    creds = KeyCredentials(key_id, {"keys": [public.as_dict(private=False)]}, **kw)
    with deployment.db.begin() as conn:
        KeyCredentialRepository(conn).put(creds, datetime.now(UTC))


def test_private_key_jwt(client: TestClient, deployment: Deployment):
    """RFC 7523 section 3: iss = sub = client id, aud = issuer, exp, single-use jti."""
    key = deployment.make_key(["users:read"])
    signer = ec_key()
    _register(deployment, key.record.id, signer)
    assertion = client_assertion(signer, key.record.id, "http://testserver")
    resp = client.post("/token", data=assertion_form(assertion))
    assert resp.status_code == 200, resp.text
    assert _decode(client, resp.json()["access_token"]).claims["sub"] == key.record.id
    replay = client.post("/token", data=assertion_form(assertion))
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"


@pytest.mark.parametrize("case", ["aud", "exp-far", "expired", "iss", "unregistered", "no-jti"])
def test_private_key_jwt_refusals(client: TestClient, deployment: Deployment, case: str):
    key = deployment.make_key(["users:read"])
    signer = ec_key()
    _register(deployment, key.record.id, signer)
    kid = key.record.id
    now = int(datetime.now(UTC).timestamp())
    make = {
        "aud": lambda: client_assertion(signer, kid, "http://elsewhere"),
        "exp-far": lambda: client_assertion(signer, kid, "http://testserver", lifetime=3600),
        "expired": lambda: client_assertion(signer, kid, "http://testserver", now=now - 600),
        "iss": lambda: client_assertion(signer, kid, "http://testserver", iss="someone"),
        "unregistered": lambda: client_assertion(ec_key(), kid, "http://testserver"),
        "no-jti": lambda: client_assertion(signer, kid, "http://testserver", jti=""),
    }
    resp = client.post("/token", data=assertion_form(make[case]()))
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_scim_accepts_the_access_token_and_enforces_its_scope(
    client: TestClient, deployment: Deployment
):
    """RFC 6750 section 2.1 bearer use at the SCIM API; RFC 7644 section 3.12 403."""
    key = deployment.make_key(["users:read", "users:write"])
    writer = _token(client, key.record.id, key.token)["access_token"]
    user = {"schemas": [USER], "userName": "grace@example.com"}
    created = client.post(
        "/scim/v2/Users", json=user, headers={"Authorization": f"Bearer {writer}"}
    )
    assert created.status_code == 201, created.text
    reader = _token(client, key.record.id, key.token, scope="users:read")["access_token"]
    denied = client.post(
        "/scim/v2/Users",
        json={"schemas": [USER], "userName": "x@example.com"},
        headers={"Authorization": f"Bearer {reader}"},
    )
    assert denied.status_code == 403
    uid = created.json()["id"]
    got = client.get(f"/scim/v2/Users/{uid}", headers={"Authorization": f"Bearer {reader}"})
    assert got.status_code == 200


def test_revoking_the_key_ends_its_tokens(client: TestClient, deployment: Deployment):
    key = deployment.make_key(["users:read"])
    token = _token(client, key.record.id, key.token)["access_token"]
    with deployment.db.begin() as conn:
        KeyRepository(conn).set_status(key.record.id, KeyStatus.REVOKED, datetime.now(UTC))
    resp = client.get("/scim/v2/Users/x", headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


def test_forged_and_foreign_tokens_are_refused(client: TestClient, deployment: Deployment):
    """RFC 9068 section 4: signature by our published key, our issuer, our audience."""
    key = deployment.make_key(["users:read"])
    good = _token(client, key.record.id, key.token)["access_token"]
    claims = _decode(client, good).claims
    mine = client.app.state.oauth.keyring.signer("ES256")  # type: ignore[attr-defined]
    forged = jwt.encode({"typ": "at+jwt", "alg": "ES256", "kid": mine[0]}, claims, ec_key())
    wrong_aud = jwt.encode(
        {"typ": "at+jwt", "alg": "ES256", "kid": mine[0]}, claims | {"aud": "other"}, mine[1]
    )
    for token in (forged, wrong_aud, good[:-4] + "AAAA"):
        resp = client.get("/scim/v2/Users/x", headers={"Authorization": f"Bearer {token}"})
        assert resp.status_code == 401, token


def test_a_disabled_key_stops_getting_tokens_within_the_cache_second(
    client: TestClient, deployment: Deployment, clock
):
    """The token endpoint may reuse a key record for 1 s (docs/oidc.md); not longer."""
    key = deployment.make_key()
    auth = basic(key.record.id, key.token)
    assert client.post("/token", data=CC, headers=auth).status_code == 200
    with deployment.db.begin() as conn:
        KeyRepository(conn).set_status(key.record.id, KeyStatus.DISABLED, datetime.now(UTC))
    clock.advance(1.01)
    resp = client.post("/token", data=CC, headers=auth)
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_client"


def test_no_token_leaves_without_its_audit_event(client: TestClient, deployment: Deployment):
    """Issue 5 point 1: if the issuance event cannot be written, no token is returned."""
    key = deployment.make_key()
    auth = basic(key.record.id, key.token)
    assert client.post("/token", data=CC, headers=auth).status_code == 200
    with deployment.db.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE audit_events RENAME TO audit_events_away")
    try:
        resp = client.post("/token", data=CC, headers=auth)
        assert resp.status_code == 503
        assert resp.json()["error"] == "temporarily_unavailable"
        assert "access_token" not in resp.text
    finally:
        with deployment.db.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE audit_events_away RENAME TO audit_events")
    assert client.post("/token", data=CC, headers=auth).status_code == 200
