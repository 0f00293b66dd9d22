"""The admin REST API for OAuth/OIDC clients (issue 6 point 2): create, list, show,
update, rotate-secret and delete over HTTP with a scoped admin token (clients:read /
clients:write), every change audited with the token as the actor, the secret shown once,
and the routes in the OpenAPI document."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ostiary.core.clock import FrozenClock
from ostiary.store.tables_audit import audit_events
from tests.support.keys import admin_token, app_client

BODY = {
    "name": "wiki",
    "redirect_uris": ["https://wiki.example.com/cb"],
    "id_token_signed_response_alg": "ES256",
    "access_token_lifetime": 300,
}


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime.now(UTC))


def _h(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_client_lifecycle_is_audited_with_the_admin_identity(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        admin = admin_token(dep, clock, ["clients:read", "clients:write"])
        admin_id = admin.split("_")[2]
        h = _h(admin)
        made = tc.post("/api/v1/clients", json=BODY, headers=h)
        assert made.status_code == 201, made.text
        doc = made.json()
        cid, secret = doc["client_id"], doc["client_secret"]
        assert secret.startswith("ost_cs_")
        assert doc["options"]["id_token_signed_response_alg"] == "ES256"
        shown = tc.get(f"/api/v1/clients/{cid}", headers=h).json()
        assert "client_secret" not in shown and shown["secret_hint"] == "..." + secret[-4:]
        listed = tc.get("/api/v1/clients", headers=h)
        assert [c["client_id"] for c in listed.json()] == [cid] and secret not in listed.text
        patched = tc.patch(
            f"/api/v1/clients/{cid}",
            json={"name": "wiki2", "refresh_token_lifetime": 86400},
            headers=h,
        ).json()
        assert patched["name"] == "wiki2"
        assert patched["options"]["refresh_token_lifetime"] == 86400
        assert patched["options"]["access_token_lifetime"] == 300  # untouched
        rotated = tc.post(f"/api/v1/clients/{cid}/rotate-secret", json={"overlap": "1h"}, headers=h)
        assert rotated.status_code == 200, rotated.text
        new_secret = rotated.json()["client_secret"]
        assert new_secret != secret and len(rotated.json()["secret_versions"]) == 2
        # Both secrets work during the overlap, the old one not after it.
        for s in (secret, new_secret):
            ok = tc.post("/introspect", auth=(cid, s), data={"token": "x"})
            assert ok.status_code == 200 and ok.json() == {"active": False}
        clock.advance(timedelta(hours=1, seconds=1))
        assert tc.post("/introspect", auth=(cid, secret), data={"token": "x"}).status_code == 401
        assert tc.delete(f"/api/v1/clients/{cid}", headers=h).status_code == 204
        assert tc.get(f"/api/v1/clients/{cid}", headers=h).status_code == 404
        assert tc.delete(f"/api/v1/clients/{cid}", headers=h).status_code == 404
        with dep.db.read() as conn:
            rows = conn.execute(select(audit_events).where(audit_events.c.target_id == cid)).all()
        actions = [r.action for r in rows]
        for action in ("client.create", "client.update", "client.secret.rotate", "client.delete"):
            assert action in actions
        for row in rows:
            if row.action.startswith("client."):
                assert row.event["actor"] == {
                    "kind": "admin",
                    "id": admin_id,
                    "auth": "admin_token",
                }
                assert secret not in str(row.event) and new_secret not in str(row.event)


def test_scopes_and_bad_input(database_url: str, tmp_path: Path, clock: FrozenClock):
    """Admin scopes gate each route (403); bad registrations are a 400/422 and write
    nothing; no token is a 401."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        reader = _h(admin_token(dep, clock, ["clients:read"]))
        writer = _h(admin_token(dep, clock, ["clients:write", "clients:read"]))
        assert tc.get("/api/v1/clients").status_code == 401
        assert tc.post("/api/v1/clients", json=BODY, headers=reader).status_code == 403
        assert tc.get("/api/v1/clients", headers=_h(admin_token(dep, clock))).status_code == 403
        for bad in (
            {**BODY, "redirect_uris": ["http://wiki.example.com/cb"]},
            {**BODY, "id_token_signed_response_alg": "HS256"},
            {**BODY, "access_token_lifetime": 7200},
            {**BODY, "token_endpoint_auth_method": "private_key_jwt"},  # no jwks
            {**BODY, "grant_types": ["password"]},
        ):
            resp = tc.post("/api/v1/clients", json=bad, headers=writer)
            assert resp.status_code == 400, (bad, resp.text)
        assert tc.post("/api/v1/clients", json={"name": 3}, headers=writer).status_code == 422
        assert tc.get("/api/v1/clients", headers=reader).json() == []
        public = tc.post(
            "/api/v1/clients", json={**BODY, "client_type": "public"}, headers=writer
        ).json()
        assert "client_secret" not in public
        rot = tc.post(
            f"/api/v1/clients/{public['client_id']}/rotate-secret", json={}, headers=writer
        )
        assert rot.status_code == 400
        private = {"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}
        leak = tc.patch(
            f"/api/v1/clients/{public['client_id']}", json={"jwks": private}, headers=writer
        )
        assert leak.status_code == 400 and "public keys" in leak.json()["detail"]
        missing = tc.patch("/api/v1/clients/nope", json={"name": "x"}, headers=writer)
        assert missing.status_code == 404
        paths = tc.get("/api/openapi.json").json()["paths"]
        assert "/api/v1/clients" in paths and "/api/v1/clients/{client_id}/rotate-secret" in paths
