"""Deactivating a user over SCIM ends their sessions and tells everyone, in the same
transaction (issue 7 points 1 and 2): CAEP session-revoked and RISC account-disabled /
account-purged SETs to SSF receivers, a signed webhook, and one audit event."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.signals import webhooks
from ostiary.signals.ssf import events as ev
from ostiary.store import bootstrap
from ostiary.store.repositories.sessions import SessionRepository
from ostiary.store.repositories.webhooks import WebhookRepository
from ostiary.store.tables_audit import audit_events
from tests.ssf.conftest import Ssf
from tests.support.receiver import receiver
from tests.support.ssf_receiver import set_receiver

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
PASSWORD = "correct horse battery staple"
HOOK_SECRET = b"h" * 32


def _sign_in(client: TestClient, username: str) -> str:
    page = client.get("/login", params={"next": "/"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    resp = client.post(
        "/login",
        data={"csrf_token": csrf, "username": username, "password": PASSWORD, "next": "/"},
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    cookie = next(c for c in resp.headers.get_list("set-cookie") if "ostiary_session=" in c)
    return cookie.split("ostiary_session=")[1].split(";")[0]


def _setup(ssf: Ssf, rx_url: str, hook_url: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    key = ssf.dep.make_key(
        ["users:read", "users:write", "users:deprovision"], clock=ssf.clock
    ).token
    auth = {"Authorization": f"Bearer {key}"}
    created = ssf.client.post(
        "/scim/v2/Users",
        json={"schemas": [USER], "userName": "leaver@example.com", "password": PASSWORD},
        headers=auth,
    )
    assert created.status_code == 201, created.text
    stream = ssf.create(
        {
            "delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": rx_url},
            "events_requested": [ev.SESSION_REVOKED, ev.ACCOUNT_DISABLED, ev.ACCOUNT_PURGED],
        }
    )
    with ssf.ctx.db.begin() as conn:
        vault = bootstrap.open_vault(ssf.dep.settings, ssf.dep.db)
        WebhookRepository(conn, vault).create(
            hook_url, ["user.deprovisioned"], HOOK_SECRET, ssf.clock.now()
        )
    return str(created.json()["id"]), auth, stream


def _session_alive(ssf: Ssf, cookie: str) -> bool:
    with ssf.ctx.db.read() as conn:
        return SessionRepository(conn).current(cookie, ssf.clock.now()) is not None


def test_deactivation_ends_sessions_and_signals_every_receiver(ssf: Ssf, clock: FrozenClock):
    jwks = ssf.jwks()
    with set_receiver(jwks, "http://testserver") as rx, receiver() as hook:
        user_id, auth, stream = _setup(ssf, rx.url, hook.url)
        rx.audience = stream["aud"]
        cookie = _sign_in(ssf.client, "leaver@example.com")
        assert _session_alive(ssf, cookie)

        # Entra ID deactivates with the string "False" (issue 3 point 8).
        resp = ssf.client.patch(
            f"/scim/v2/Users/{user_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "Replace", "path": "active", "value": "False"}],
            },
            headers=auth,
        )
        assert resp.status_code == 200, resp.text
        assert not _session_alive(ssf, cookie)
        while ssf.deliver():
            pass
        sets = rx.wait_for(2)
        kinds = sorted(s.event_type for s in sets)
        assert kinds == sorted([ev.SESSION_REVOKED, ev.ACCOUNT_DISABLED])
        assert all(
            s.claims["sub_id"] == {"format": "iss_sub", "iss": "http://testserver", "sub": user_id}
            for s in sets
        )
        assert len({s.claims["txn"] for s in sets}) == 1  # one cause, one transaction id
        [delivery] = hook.wait_for(1)
        assert webhooks.verify(HOOK_SECRET, delivery.headers, delivery.body, clock.now())
        assert b'"user.deprovisioned"' in delivery.body and user_id.encode() in delivery.body

        # Reactivation does not bring the old session back.
        resp = ssf.client.patch(
            f"/scim/v2/Users/{user_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "active", "value": True}],
            },
            headers=auth,
        )
        assert resp.status_code == 200
        assert not _session_alive(ssf, cookie)

    with ssf.ctx.db.read() as conn:
        row = conn.execute(
            select(audit_events).where(audit_events.c.action == "scim.user.deactivate")
        ).one()
    detail = orjson.loads(row.entry)["detail"]
    assert detail["sessions_ended"] == 1 and detail["signals_queued"] == 3
    assert orjson.loads(row.entry)["actor"]["kind"] == "key"


def test_deletion_purges(ssf: Ssf):
    jwks = ssf.jwks()
    with set_receiver(jwks, "http://testserver") as rx, receiver() as hook:
        user_id, auth, stream = _setup(ssf, rx.url, hook.url)
        rx.audience = stream["aud"]
        assert ssf.client.delete(f"/scim/v2/Users/{user_id}", headers=auth).status_code == 204
        while ssf.deliver():
            pass
        kinds = sorted(s.event_type for s in rx.wait_for(2))
        assert kinds == sorted([ev.SESSION_REVOKED, ev.ACCOUNT_PURGED])


@pytest.mark.parametrize("scopes", [["users:read", "users:write"]])
def test_a_refused_deactivation_signals_nothing(ssf: Ssf, scopes: list[str]):
    """Without users:deprovision the write is refused and nothing is queued or ended."""
    jwks = ssf.jwks()
    with set_receiver(jwks, "http://testserver") as rx, receiver() as hook:
        user_id, _auth, _stream = _setup(ssf, rx.url, hook.url)
        cookie = _sign_in(ssf.client, "leaver@example.com")
        weak = {"Authorization": f"Bearer {ssf.dep.make_key(scopes, clock=ssf.clock).token}"}
        resp = ssf.client.patch(
            f"/scim/v2/Users/{user_id}",
            json={
                "schemas": [PATCH],
                "Operations": [{"op": "replace", "path": "active", "value": False}],
            },
            headers=weak,
        )
        assert resp.status_code == 403
        assert _session_alive(ssf, cookie)
        assert ssf.deliver() == 0
        assert rx.accepted == [] and hook.requests == []
