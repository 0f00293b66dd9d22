"""Deprovisioning a user revokes the provisioning keys and disables the OIDC clients they
own, in the same transaction, audited (issue 7 point 1)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.repositories.owners import OwnerRepository
from ostiary.store.tables_audit import audit_events
from ostiary.store.tables_owners import CLIENT
from tests.support.keys import admin_token, app_client
from tests.support.rp import code_flow_tokens, register, scim_user

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
REDIRECT = "https://rp.example.com/cb"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _set_active(tc: TestClient, key: str, user_id: str, active: bool) -> None:
    resp = tc.patch(
        f"/scim/v2/Users/{user_id}",
        json={"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": active}}]},
        headers=_bearer(key),
    )
    assert resp.status_code == 200, resp.text


def _events(dep, action: str):  # type: ignore[no-untyped-def]
    with dep.db.read() as conn:
        rows = conn.execute(select(audit_events).where(audit_events.c.action == action))
        return [orjson.loads(r.entry) for r in rows]


def test_owned_keys_are_revoked_and_owned_clients_disabled_with_their_tokens(
    database_url: str, tmp_path: Path
):
    clock = FrozenClock(datetime.now(UTC))
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        admin = _bearer(admin_token(dep, clock))
        hr = dep.make_key(["users:read", "users:write", "users:deprovision"], name="hr").token
        ada = scim_user(tc, hr, "ada@example.com")
        scim_user(tc, hr, "bob@example.com")
        # Ada owns a provisioning key (admin API, by userName) and a relying party.
        made = tc.post(
            "/api/v1/keys",
            json={"name": "ada's sync", "scopes": ["users:read"], "owner": "ada@example.com"},
            headers=admin,
        )
        assert made.status_code == 201, made.text
        owned_key, owned_token = made.json()["id"], made.json()["key"]
        assert tc.get("/scim/v2/Users", headers=_bearer(owned_token)).status_code == 200
        register(tc.app, client_type="public", client_id="adas-app")
        with dep.db.begin() as conn:
            OwnerRepository(conn).set(CLIENT, "adas-app", ada, clock.now())
        # Bob signs in to Ada's relying party and holds its tokens.
        bob = TestClient(tc.app, base_url="http://testserver")
        tokens = code_flow_tokens(bob, client_id="adas-app", username="bob@example.com")
        assert bob.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 200

        _set_active(tc, hr, ada, False)

        # The key: revoked for good (RFC 6750 3.1: 401 at SCIM), visible in the admin API.
        assert tc.get("/scim/v2/Users", headers=_bearer(owned_token)).status_code == 401
        shown = tc.get(f"/api/v1/keys/{owned_key}", headers=admin).json()
        assert shown["status"] == "revoked"
        # The client: its tokens are dead, it cannot refresh nor start a new sign-in.
        assert bob.get("/userinfo", headers=_bearer(tokens["access_token"])).status_code == 401
        refreshed = bob.post(
            "/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": tokens["refresh_token"],
                "client_id": "adas-app",
            },
        )
        assert refreshed.status_code in (400, 401)
        assert refreshed.json()["error"] in ("invalid_client", "invalid_grant")
        start = bob.get(
            "/authorize",
            params={"client_id": "adas-app", "redirect_uri": REDIRECT, "response_type": "code"},
        )
        assert start.status_code == 400 and "disabled" in start.text

        (deactivation,) = _events(dep, "scim.user.deactivate")
        detail = deactivation["detail"]
        assert detail["keys_revoked"] == 1 and detail["clients_disabled"] == 1
        assert detail["client_tokens_revoked"] == 1
        (key_revoke,) = _events(dep, "key.revoke")
        assert key_revoke["target"]["id"] == owned_key
        assert key_revoke["actor"]["kind"] == "key"  # the provisioning key that deactivated
        assert key_revoke["detail"]["owner_user_id"] == ada
        (client_disable,) = _events(dep, "client.disable")
        assert client_disable["target"]["id"] == "adas-app"

        # Reactivation brings neither back: key revocation is final.
        _set_active(tc, hr, ada, True)
        assert tc.get("/scim/v2/Users", headers=_bearer(owned_token)).status_code == 401
        again = tc.post(f"/api/v1/keys/{owned_key}/enable", headers=admin)
        assert again.status_code == 400


def test_an_unknown_owner_is_a_400_and_creates_no_key(sqlite_url: str, tmp_path: Path):
    clock = FrozenClock(datetime.now(UTC))
    with app_client(sqlite_url, tmp_path, clock) as (tc, dep):
        admin = _bearer(admin_token(dep, clock))
        made = tc.post(
            "/api/v1/keys",
            json={"name": "x", "scopes": ["users:read"], "owner": "nobody@example.com"},
            headers=admin,
        )
        assert made.status_code == 400 and "owner" in made.json()["detail"]
        assert tc.get("/api/v1/keys", headers=admin).json() == []


def test_the_clients_admin_api_records_an_owner_and_refuses_an_unknown_one(
    sqlite_url: str, tmp_path: Path
):
    """``POST /api/v1/clients`` and ``PATCH`` take ``owner`` (id or userName)."""
    clock = FrozenClock(datetime.now(UTC))
    with app_client(sqlite_url, tmp_path, clock) as (tc, dep):
        admin = _bearer(admin_token(dep, clock, ["clients:read", "clients:write"]))
        ada = scim_user(tc, dep.make_key().token, "ada@example.com")
        body = {"name": "wiki", "redirect_uris": [REDIRECT], "owner": "ada@example.com"}
        made = tc.post("/api/v1/clients", json=body, headers=admin)
        assert made.status_code == 201, made.text
        client_id = made.json()["client_id"]
        with dep.db.read() as conn:
            assert OwnerRepository(conn).owner_of(CLIENT, client_id) == ada
        bad = tc.patch(f"/api/v1/clients/{client_id}", json={"owner": "nobody"}, headers=admin)
        assert bad.status_code == 400 and "owner" in bad.json()["detail"]
        unknown = tc.post("/api/v1/clients", json=body | {"owner": "nobody"}, headers=admin)
        assert unknown.status_code == 400
        assert [c["client_id"] for c in tc.get("/api/v1/clients", headers=admin).json()] == [
            client_id
        ]
