"""Issue 7 point 1, "a group change that removes a user's access to a client": a client
limited to ``allowed_groups`` refuses other users at /authorize (RFC 6749 4.1.2.1
``access_denied``), and a SCIM group write (RFC 7644 3.5.2 PATCH, 3.5.1 PUT, 3.6 DELETE)
that removes a user's last path to it ends, in the same transaction, that client's
refresh grants and access tokens for the user and sends it a Back-Channel Logout 1.0
token; other clients and the SSO session are untouched."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.store.repositories.clients import ClientRepository
from ostiary.store.tables_audit import audit_events
from ostiary.web.context import AppContext
from tests.support.deploy import Deployment
from tests.support.logout import logout_token_of, tokens_for, verify_logout_token
from tests.support.receiver import Receiver, receiver
from tests.support.rp import REDIRECT, query_of, register, scim_user

GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
SCOPES = ["users:read", "users:write", "groups:read", "groups:write", "bulk"]


class Directory:
    def __init__(self, client: TestClient, deployment: Deployment) -> None:
        self.client = client
        self.auth = {"Authorization": f"Bearer {deployment.make_key(SCOPES).token}"}

    def group(self, name: str, *members: str) -> str:
        resp = self.client.post(
            "/scim/v2/Groups",
            json={
                "schemas": [GROUP],
                "displayName": name,
                "members": [{"value": m} for m in members],
            },
            headers=self.auth,
        )
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    def patch(self, group_id: str, *ops: dict[str, Any]) -> None:
        resp = self.client.patch(
            f"/scim/v2/Groups/{group_id}",
            json={"schemas": [PATCH], "Operations": list(ops)},
            headers=self.auth,
        )
        assert resp.status_code in {200, 204}, resp.text


def _authorize(client: TestClient, client_id: str) -> dict[str, str]:
    resp = client.get(
        "/authorize",
        params={
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT,
            "scope": "openid",
            "state": "st",
            "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
            "code_challenge_method": "S256",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303 and resp.headers["location"].startswith(REDIRECT)
    return query_of(resp.headers["location"])


def _refresh(client: TestClient, client_id: str, token: str) -> Any:
    data = {"grant_type": "refresh_token", "refresh_token": token, "client_id": client_id}
    return client.post("/token", data=data)


def _deliver(client: TestClient) -> None:
    ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
    worker = ctx.outbox_worker()
    while worker.run_once():
        pass


def _revocations(deployment: Deployment) -> list[dict[str, Any]]:
    with deployment.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.entry).where(
                audit_events.c.action == "oauth.client.access.revoke"
            )
        )
        return [orjson.loads(r.entry) for r in rows]


def _clients(client: TestClient, rx1: Receiver, rx2: Receiver, allowed: list[str]) -> None:
    register(
        client.app,
        client_type="public",
        client_id="rp1",
        options={"backchannel_logout_uri": rx1.url, "allowed_groups": allowed},
    )
    register(
        client.app,
        client_type="public",
        client_id="rp2",
        options={"backchannel_logout_uri": rx2.url},
    )


def _staff_in_rp1(
    client: TestClient, deployment: Deployment, rx1: Receiver, rx2: Receiver
) -> tuple[Directory, str, str, dict[str, Any]]:
    """A user in group Staff, signed in to rp1 (limited to Staff) with tokens."""
    directory = Directory(client, deployment)
    user_id = scim_user(client, directory.auth["Authorization"][7:])
    staff = directory.group("Staff", user_id)
    _clients(client, rx1, rx2, ["Staff"])
    return directory, user_id, staff, tokens_for(client, "rp1")


def test_authorize_refuses_users_outside_the_allowed_groups(
    client: TestClient, deployment: Deployment
):
    with receiver() as rx1, receiver() as rx2:
        _clients(client, rx1, rx2, ["Engineering"])
        directory = Directory(client, deployment)
        user_id = scim_user(client, directory.auth["Authorization"][7:])
        tokens_for(client, "rp2")  # signs in; rp2 is open to everyone
        refused = _authorize(client, "rp1")
        assert refused["error"] == "access_denied" and refused["state"] == "st"
        directory.group("engineering", user_id)  # displayName matches case-insensitively
        assert "code" in _authorize(client, "rp1")


def test_removing_the_last_nested_path_ends_that_clients_access_only(
    client: TestClient, deployment: Deployment
):
    """PATCH remove of a nested group: the user's rp1 refresh grant and access token die,
    rp1 gets a logout token, rp2 keeps working; a remaining second path keeps access."""
    with receiver() as rx1, receiver() as rx2:
        directory = Directory(client, deployment)
        user_id = scim_user(client, directory.auth["Authorization"][7:])
        backend = directory.group("Backend", user_id)
        engineering = directory.group("Engineering", backend)
        _clients(client, rx1, rx2, [engineering])  # by id this time
        rp1 = tokens_for(client, "rp1")
        rp2 = tokens_for(client, "rp2")
        oncall = directory.group("Oncall", user_id)
        directory.patch(engineering, {"op": "add", "path": "members", "value": [{"value": oncall}]})

        # Two paths (Backend, Oncall): removing one leaves access.
        directory.patch(engineering, {"op": "remove", "path": f'members[value eq "{backend}"]'})
        assert _revocations(deployment) == []
        rp1_refresh = _refresh(client, "rp1", rp1["refresh_token"])
        assert rp1_refresh.status_code == 200, rp1_refresh.text

        # The last path goes: access to rp1 ends in the same write.
        directory.patch(engineering, {"op": "remove", "path": f'members[value eq "{oncall}"]'})
        [event] = _revocations(deployment)
        assert event["detail"]["client_id"] == "rp1" and event["target"]["id"] == user_id
        assert event["detail"]["backchannel_logouts_queued"] == 1
        assert event["actor"]["kind"] == "key"
        dead = _refresh(client, "rp1", rp1_refresh.json()["refresh_token"])
        assert dead.status_code == 400 and dead.json()["error"] == "invalid_grant"
        userinfo = client.get(
            "/userinfo",
            headers={"Authorization": f"Bearer {rp1_refresh.json()['access_token']}"},
        )
        assert userinfo.status_code == 401
        assert _refresh(client, "rp2", rp2["refresh_token"]).status_code == 200
        assert _authorize(client, "rp1")["error"] == "access_denied"
        assert "code" in _authorize(client, "rp2")  # the SSO session lives on
        _deliver(client)
        [got] = rx1.wait_for(1)
        assert rx2.requests == []
    claims = verify_logout_token(client, logout_token_of(got), audience="rp1")
    assert claims["sub"] == user_id


def test_deleting_or_renaming_the_group_ends_access(client: TestClient, deployment: Deployment):
    """DELETE of the group (RFC 7644 3.6), and a rename when the client names the group by
    displayName (PUT, RFC 7644 3.5.1)."""
    with receiver() as rx1, receiver() as rx2:
        directory, user_id, staff, first = _staff_in_rp1(client, deployment, rx1, rx2)
        renamed = client.put(
            f"/scim/v2/Groups/{staff}",
            json={
                "schemas": [GROUP],
                "displayName": "Former staff",
                "members": [{"value": user_id}],
            },
            headers=directory.auth,
        )
        assert renamed.status_code == 200, renamed.text
        assert len(_revocations(deployment)) == 1
        assert _refresh(client, "rp1", first["refresh_token"]).status_code == 400
        directory.patch(staff, {"op": "replace", "path": "displayName", "value": "Staff"})
        second = tokens_for(client, "rp1")
        gone = client.delete(f"/scim/v2/Groups/{staff}", headers=directory.auth)
        assert gone.status_code == 204
        assert len(_revocations(deployment)) == 2
        assert _refresh(client, "rp1", second["refresh_token"]).status_code == 400


def test_a_bulk_group_patch_ends_access_too(client: TestClient, deployment: Deployment):
    """RFC 7644 3.7: a group PATCH inside Bulk goes through the same guard."""
    with receiver() as rx1, receiver() as rx2:
        directory, user_id, staff, held = _staff_in_rp1(client, deployment, rx1, rx2)
        op = {
            "method": "PATCH",
            "path": f"/Groups/{staff}",
            "data": {"schemas": [PATCH], "Operations": [{"op": "remove", "path": "members"}]},
        }
        bulk = {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
            "Operations": [op],
        }
        resp = client.post("/scim/v2/Bulk", json=bulk, headers=directory.auth)
        assert resp.status_code == 200 and resp.json()["Operations"][0]["status"] in {"200", "204"}
        assert [e["target"]["id"] for e in _revocations(deployment)] == [user_id]
        assert _refresh(client, "rp1", held["refresh_token"]).status_code == 400


def test_a_failed_group_write_ends_nothing(client: TestClient, deployment: Deployment):
    """One transaction: a PATCH whose later operation fails (RFC 7644 3.5.2: all or
    nothing) keeps the member it removed first, so no token is revoked and no logout is
    queued."""
    with receiver() as rx1, receiver() as rx2:
        directory, user_id, staff, held = _staff_in_rp1(client, deployment, rx1, rx2)
        ops = [
            {"op": "remove", "path": "members"},  # applied first, then rolled back
            {"op": "add", "path": "members", "value": [{"value": "no-such-member"}]},
        ]
        resp = client.patch(
            f"/scim/v2/Groups/{staff}",
            json={"schemas": [PATCH], "Operations": ops},
            headers=directory.auth,
        )
        assert resp.status_code == 400, resp.text
        assert _revocations(deployment) == []
        assert _refresh(client, "rp1", held["refresh_token"]).status_code == 200
        _deliver(client)
        assert rx1.requests == []
        members = client.get(f"/scim/v2/Groups/{staff}", headers=directory.auth).json()
        assert [m["value"] for m in members["members"]] == [user_id]


def test_restricting_a_client_later_ends_access_at_the_next_refresh(
    client: TestClient, deployment: Deployment
):
    """An administrator adds allowed_groups to a client the user already holds tokens for:
    the next refresh is refused (RFC 6749 5.2 invalid_grant) and, committed with that
    answer, the user's access to the client ends as a group write would end it."""
    with receiver() as rx1, receiver() as rx2:
        directory = Directory(client, deployment)
        user_id = scim_user(client, directory.auth["Authorization"][7:])
        _clients(client, rx1, rx2, [])
        held = tokens_for(client, "rp1")
        ctx: AppContext = client.app.state.ctx  # type: ignore[attr-defined]
        with ctx.db.begin() as conn:
            repo = ClientRepository(conn, ctx.vault)
            rp1 = repo.require("rp1")
            restricted = rp1.options | {"allowed_groups": ["Staff"]}
            repo.update(replace(rp1, options=restricted), ctx.clock.now())
        refused = _refresh(client, "rp1", held["refresh_token"])
        assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
        [event] = _revocations(deployment)
        assert event["detail"]["reason"] == "token_request"
        assert event["target"]["id"] == user_id
        bearer = {"Authorization": f"Bearer {held['access_token']}"}
        assert client.get("/userinfo", headers=bearer).status_code == 401
        _deliver(client)
        [got] = rx1.wait_for(1)
    assert verify_logout_token(client, logout_token_of(got), audience="rp1")["sub"] == user_id
