"""OpenID Connect Back-Channel Logout 1.0 (issue 6 point 8): the clients a session issued
tokens to are recorded (section 2.6), and ending the session queues one logout token per
client session (sections 2.4, 2.5) that the outbox worker POSTs, with retries, to each
client's ``backchannel_logout_uri``. Receivers are real HTTP servers; tokens are checked
with joserfc against /jwks."""

from __future__ import annotations

from dataclasses import replace

import orjson
import pytest
from joserfc import jws
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.signals.outbox import Status
from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.repositories.outbox import OutboxRepository
from ostiary.store.tables_audit import audit_events
from ostiary.store.tables_oidc_logout import oidc_session_clients
from ostiary.web.context import AppContext
from tests.support.deploy import Deployment
from tests.support.logout import csrf_of, logout_token_of, tokens_for, verify_logout_token
from tests.support.receiver import receiver
from tests.support.rp import register, scim_user, verify_id_token


def _ctx(client: TestClient) -> AppContext:
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    return ctx


def _deliver(client: TestClient) -> int:
    worker = _ctx(client).outbox_worker()
    total = 0
    while sent := worker.run_once():
        total += sent
    return total


def _logout(client: TestClient) -> None:
    page = client.get("/logout")
    done = client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert done.status_code == 200 and "You are signed out" in done.text


def _signed_in_to_rp1_then_out(client: TestClient, deployment: Deployment, uri: str) -> None:
    options = {"backchannel_logout_uri": uri}
    register(client.app, client_type="public", client_id="rp1", options=options)
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    tokens_for(client, "rp1")
    _logout(client)


def test_redeeming_a_code_records_the_client_of_the_session(
    client: TestClient, deployment: Deployment
):
    """Back-Channel Logout 1.0 section 2.6: the OP knows which RPs a session logged in to."""
    register(client.app, client_type="public", client_id="rp1")
    register(client.app, client_type="public", client_id="rp2")
    user_id = scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    first = tokens_for(client, "rp1")
    tokens_for(client, "rp2")
    tokens_for(client, "rp1")  # a second sign-in to rp1 in the same session: still one row
    sid = verify_id_token(client, first["id_token"], audience="rp1")["sid"]
    with deployment.db.read() as conn:
        rows = conn.execute(select(oidc_session_clients)).all()
    assert sorted((r.sid, r.client_id, r.user_id) for r in rows) == [
        (sid, "rp1", user_id),
        (sid, "rp2", user_id),
    ]


def test_logout_posts_one_verified_logout_token_per_client_session(
    client: TestClient, deployment: Deployment
):
    """Sections 2.4-2.6: iss, aud, iat, exp, jti, sub, sid, events, typ logout+jwt, no
    nonce, RS256 through /jwks; POSTed as the ``logout_token`` form parameter. A client
    without a backchannel_logout_uri gets nothing."""
    with receiver() as rx1, receiver() as rx2:
        register(
            client.app,
            client_type="public",
            client_id="rp1",
            options={"backchannel_logout_uri": rx1.url},
        )
        register(
            client.app,
            client_type="public",
            client_id="rp2",
            options={
                "backchannel_logout_uri": rx2.url,
                "backchannel_logout_session_required": True,
            },
        )
        register(client.app, client_type="public", client_id="rp3")
        user_id = scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
        id_tokens = {rp: tokens_for(client, rp)["id_token"] for rp in ("rp1", "rp2", "rp3")}
        sid = verify_id_token(client, id_tokens["rp1"], audience="rp1")["sid"]
        assert _deliver(client) == 0  # nothing queued before logout
        _logout(client)
        assert _deliver(client) == 2
        [got1], [got2] = rx1.wait_for(1), rx2.wait_for(1)
    claims1 = verify_logout_token(client, logout_token_of(got1), audience="rp1")
    claims2 = verify_logout_token(client, logout_token_of(got2), audience="rp2")
    for claims in (claims1, claims2):
        assert claims["sub"] == user_id and claims["sid"] == sid
    assert claims1["jti"] != claims2["jti"]
    with deployment.db.read() as conn:
        event = conn.execute(
            select(audit_events.c.entry).where(audit_events.c.action == "auth.signout")
        ).scalar_one()
    event = orjson.loads(event)
    assert event["detail"]["backchannel_logouts_queued"] == 2


def test_failed_delivery_is_retried_with_a_fresh_token_and_the_same_jti(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """Section 2.5 via the durable outbox: a 503 is retried after backoff; the retry is
    signed again (fresh iat/exp, so not expired) and keeps its jti (section 2.6 replay)."""
    with receiver(statuses=[503]) as rx:
        _signed_in_to_rp1_then_out(client, deployment, rx.url)
        assert _deliver(client) == 1
        assert rx.requests == []  # the 503 is not recorded as received
        with deployment.db.read() as conn:
            [pending] = OutboxRepository(conn).recent(status=Status.PENDING)
        assert pending.attempts == 1 and pending.last_error
        clock.advance(600)
        assert _deliver(client) == 1
        [got] = rx.wait_for(1)
    now = clock.now().timestamp()
    claims = verify_logout_token(client, logout_token_of(got), audience="rp1", now=now)
    assert claims["jti"] == pending.payload["claims"]["jti"]
    assert claims["iat"] >= int(clock.now().timestamp()) - 1


def test_a_client_that_dropped_its_uri_is_not_retried(client: TestClient, deployment: Deployment):
    """A logout token for a client whose backchannel_logout_uri is gone goes dead at once."""
    with receiver() as rx:
        _signed_in_to_rp1_then_out(client, deployment, rx.url)
        ctx = _ctx(client)
        with ctx.db.begin() as conn:
            repo = ClientRepository(conn, ctx.vault)
            rp = repo.require("rp1")
            repo.update(replace(rp, options={}), ctx.clock.now())
        assert _deliver(client) == 1
        assert rx.requests == []
    with deployment.db.read() as conn:
        [dead] = OutboxRepository(conn).recent(status=Status.DEAD)
    assert "backchannel_logout_uri" in (dead.last_error or "")


def test_logout_revokes_online_refresh_tokens_only(client: TestClient, deployment: Deployment):
    """Section 2.7: refresh tokens issued without offline_access end with the session
    (and the access token issued with them); offline_access ones survive it."""
    register(client.app, client_type="public", client_id="rp1")
    register(client.app, client_type="public", client_id="rp2", options={"refresh_tokens": True})
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    offline = tokens_for(client, "rp1")
    online = tokens_for(client, "rp2", scope="openid profile")
    assert "offline_access" not in online["scope"] and online["refresh_token"]
    _logout(client)

    def refresh(client_id: str, token: str) -> int:
        data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
        return client.post("/token", data=data).status_code

    assert refresh("rp2", online["refresh_token"]) == 400
    bearer = {"Authorization": f"Bearer {online['access_token']}"}
    assert client.get("/userinfo", headers=bearer).status_code == 401
    assert refresh("rp1", offline["refresh_token"]) == 200


def test_discovery_advertises_back_channel_logout(client: TestClient):
    """Back-Channel Logout 1.0 section 2.1."""
    doc = client.get("/.well-known/openid-configuration").json()
    assert doc["backchannel_logout_supported"] is True
    assert doc["backchannel_logout_session_supported"] is True


@pytest.mark.parametrize("alg", ["RS256", "ES256", "EdDSA"])
def test_logout_token_is_signed_with_the_clients_id_token_alg(
    client: TestClient, deployment: Deployment, alg: str
):
    """Section 2.4: the logout token is signed like an ID token for that client, so with
    its id_token_signed_response_alg; the receiver verifies it through /jwks."""
    with receiver() as rx:
        options = {"backchannel_logout_uri": rx.url, "id_token_signed_response_alg": alg}
        register(client.app, client_type="public", client_id="rp1", options=options)
        scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
        id_tok = tokens_for(client, "rp1")["id_token"]
        _logout(client)
        assert _deliver(client) == 1
        [got] = rx.wait_for(1)
    token = logout_token_of(got)
    claims = verify_logout_token(client, token, audience="rp1", alg=alg)
    id_kid = jws.extract_compact(id_tok.encode("ascii")).protected["kid"]
    assert jws.extract_compact(token.encode("ascii")).protected["kid"] == id_kid
    assert claims["events"]
