"""Deprovisioning tells every relying party (issue 7 point 2, first bullet): deactivating
or deleting a user over SCIM queues, in the SCIM write's transaction, one Back-Channel
Logout 1.0 token per client session (section 2.5), and the audit event says how many.
Two real receivers verify the tokens with joserfc against /jwks."""

from __future__ import annotations

import orjson
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.store.tables_audit import audit_events
from ostiary.web.context import AppContext
from tests.support.deploy import Deployment
from tests.support.logout import logout_token_of, tokens_for, verify_logout_token
from tests.support.receiver import receiver
from tests.support.rp import register, scim_user, verify_id_token

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.mark.parametrize("how", ["deactivate", "delete"])
def test_deprovisioning_logs_the_user_out_of_every_client(
    client: TestClient, deployment: Deployment, how: str
):
    key = deployment.make_key(["users:read", "users:write", "users:deprovision"]).token
    auth = {"Authorization": f"Bearer {key}"}
    with receiver() as rx1, receiver() as rx2:
        for rp, rx in (("rp1", rx1), ("rp2", rx2)):
            register(
                client.app,
                client_type="public",
                client_id=rp,
                options={"backchannel_logout_uri": rx.url},
            )
        register(client.app, client_type="public", client_id="rp3")  # no back-channel URI
        user_id = scim_user(client, key)
        sid = verify_id_token(client, tokens_for(client, "rp1")["id_token"], audience="rp1")["sid"]
        tokens_for(client, "rp2")
        tokens_for(client, "rp3")
        if how == "deactivate":
            resp = client.patch(
                f"/scim/v2/Users/{user_id}",
                json={
                    "schemas": [PATCH],
                    "Operations": [{"op": "replace", "path": "active", "value": False}],
                },
                headers=auth,
            )
            assert resp.status_code == 200, resp.text
        else:
            assert client.delete(f"/scim/v2/Users/{user_id}", headers=auth).status_code == 204
        ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
        worker = ctx.outbox_worker()
        while worker.run_once():
            pass
        [got1], [got2] = rx1.wait_for(1), rx2.wait_for(1)
    for got, rp in ((got1, "rp1"), (got2, "rp2")):
        claims = verify_logout_token(client, logout_token_of(got), audience=rp)
        assert claims["sub"] == user_id and claims["sid"] == sid
    with deployment.db.read() as conn:
        event = conn.execute(
            select(audit_events.c.entry).where(audit_events.c.action == "scim.user.deactivate")
        ).scalar_one()
    event = orjson.loads(event)
    assert event["detail"]["backchannel_logouts_queued"] == 2
    assert event["detail"]["sessions_ended"] == 1
