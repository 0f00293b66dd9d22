"""The SSF Stream Management API (SSF 1.0 sections 7 and 8) over HTTP: discovery,
bearer authentication, per-receiver ownership, update/replace/delete, audit."""

from __future__ import annotations

import json

from sqlalchemy import select

from ostiary.signals.ssf import events as ev
from ostiary.store.tables_audit import audit_events
from tests.ssf.conftest import Ssf

ISSUER = "http://testserver"


def test_configuration_metadata(ssf: Ssf):
    """SSF 1.0 section 7.1 and 7.2.3."""
    resp = ssf.client.get("/.well-known/ssf-configuration")
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/json"
    doc = resp.json()
    assert doc["spec_version"] == "1_0" and doc["issuer"] == ISSUER
    assert doc["jwks_uri"] == f"{ISSUER}/ssf/jwks"
    assert doc["delivery_methods_supported"] == ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"]
    assert doc["configuration_endpoint"] == f"{ISSUER}/ssf/stream"
    assert doc["status_endpoint"] == f"{ISSUER}/ssf/status"
    assert doc["verification_endpoint"] == f"{ISSUER}/ssf/verify"
    assert doc["authorization_schemes"] == [{"spec_urn": "urn:ietf:rfc:6749"}]
    for path in ("/ssf/stream", "/ssf/status", "/ssf/verify", "/ssf/jwks"):
        assert any(v == ISSUER + path for v in doc.values())


def test_bearer_errors(ssf: Ssf):
    """RFC 6750 section 3: 401 with a challenge, 403 insufficient_scope (audited)."""
    missing = ssf.client.get("/ssf/stream")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == 'Bearer realm="ostiary-ssf"'
    wrong = ssf.client.get("/ssf/stream", headers={"authorization": "Bearer ost_pk_nope"})
    assert wrong.status_code == 401 and 'error="invalid_token"' in wrong.headers["www-authenticate"]
    assert wrong.json()["error"] == "invalid_token"
    scim_only = ssf.dep.make_key(["users:read"], name="scim", clock=ssf.clock)
    denied = ssf.client.get("/ssf/stream", headers={"authorization": f"Bearer {scim_only.token}"})
    assert denied.status_code == 403 and denied.json()["error"] == "insufficient_scope"
    assert 'scope="ssf:manage"' in denied.headers["www-authenticate"]
    with ssf.ctx.db.read() as conn:
        actions = conn.execute(select(audit_events.c.action, audit_events.c.actor_id)).all()
    assert ("auth.scope.denied", scim_only.record.id) in actions


def test_streams_belong_to_their_receiver(ssf: Ssf):
    """SSF 1.0 section 8: only the receiver that owns a stream may see or change it."""
    mine = ssf.create({"events_requested": [ev.SESSION_REVOKED]})
    other = ssf.receiver("receiver-b")
    theirs = ssf.create({"events_requested": [ev.ACCOUNT_PURGED]}, auth=other)
    assert [s["stream_id"] for s in ssf.client.get("/ssf/stream", headers=ssf.auth).json()] == [
        mine["stream_id"]
    ]
    assert mine["aud"] != theirs["aud"]
    sid = theirs["stream_id"]
    assert ssf.client.get(f"/ssf/stream?stream_id={sid}", headers=ssf.auth).status_code == 404
    patch = ssf.client.patch(
        "/ssf/stream", json={"stream_id": sid, "description": "x"}, headers=ssf.auth
    )
    assert patch.status_code == 404
    assert ssf.client.delete(f"/ssf/stream?stream_id={sid}", headers=ssf.auth).status_code == 404
    status = ssf.client.post(
        "/ssf/status", json={"stream_id": sid, "status": "disabled"}, headers=ssf.auth
    )
    assert status.status_code == 404
    verify = ssf.client.post("/ssf/verify", json={"stream_id": sid}, headers=ssf.auth)
    assert verify.status_code == 404
    still = ssf.client.get(f"/ssf/stream?stream_id={sid}", headers=other).json()
    assert still == theirs


def test_update_replace_delete(ssf: Ssf):
    """SSF 1.0 sections 8.1.1.2-8.1.1.5."""
    created = ssf.create({"events_requested": [ev.SESSION_REVOKED], "description": "one"})
    sid, h = created["stream_id"], ssf.auth
    read = ssf.client.get(f"/ssf/stream?stream_id={sid}", headers=h)
    assert read.status_code == 200 and read.json() == created
    assert read.headers["cache-control"] == "no-store"

    patched = ssf.client.patch(
        "/ssf/stream", json={"stream_id": sid, "description": "two"}, headers=h
    )
    assert patched.status_code == 200
    assert patched.json()["description"] == "two"
    assert patched.json()["events_requested"] == [ev.SESSION_REVOKED]  # absent: unchanged

    body = {"stream_id": sid, "events_requested": [ev.ACCOUNT_DISABLED], "iss": ISSUER}
    replaced = ssf.client.put("/ssf/stream", json=body, headers=h).json()
    assert replaced["events_delivered"] == [ev.ACCOUNT_DISABLED]
    assert "description" not in replaced  # missing from a PUT means deleted
    assert replaced["delivery"]["method"] == "urn:ietf:rfc:8936"

    mismatch = {"stream_id": sid, "aud": "someone-else"}
    bad = ssf.client.patch("/ssf/stream", json=mismatch, headers=h)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    stale = {"stream_id": sid, "events_delivered": [ev.SESSION_REVOKED]}
    assert ssf.client.patch("/ssf/stream", json=stale, headers=h).status_code == 400
    garbage = ssf.client.post("/ssf/stream", content=b"{not json", headers=h)
    assert garbage.status_code == 400
    http_push = {"delivery": {"method": "urn:ietf:rfc:8935", "endpoint_url": "ftp://x"}}
    assert ssf.client.post("/ssf/stream", json=http_push, headers=h).status_code == 400
    no_url = {"delivery": {"method": "urn:ietf:rfc:8935"}}
    assert ssf.client.post("/ssf/stream", json=no_url, headers=h).status_code == 400
    assert ssf.client.put("/ssf/stream", json={"stream_id": "nope"}, headers=h).status_code == 404

    assert ssf.client.delete(f"/ssf/stream?stream_id={sid}", headers=h).status_code == 204
    assert ssf.client.get(f"/ssf/stream?stream_id={sid}", headers=h).status_code == 404
    assert ssf.client.get("/ssf/stream", headers=h).json() == []


def test_stream_limit(ssf: Ssf):
    for _ in range(ssf.ctx.settings.ssf_max_streams_per_receiver):
        ssf.create({"events_requested": [ev.SESSION_REVOKED]})
    over = ssf.client.post("/ssf/stream", json={}, headers=ssf.auth)
    assert over.status_code == 403


def test_every_management_action_is_audited(ssf: Ssf):
    """Each change is an audit event naming the receiver's key and the stream."""
    sid = ssf.create({"events_requested": [ev.SESSION_REVOKED]})["stream_id"]
    h = ssf.auth
    ssf.client.patch("/ssf/stream", json={"stream_id": sid, "description": "d"}, headers=h)
    ssf.client.put("/ssf/stream", json={"stream_id": sid}, headers=h)
    ssf.client.post("/ssf/status", json={"stream_id": sid, "status": "paused"}, headers=h)
    ssf.client.post("/ssf/verify", json={"stream_id": sid}, headers=h)
    ssf.client.delete(f"/ssf/stream?stream_id={sid}", headers=h)
    with ssf.ctx.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.action, audit_events.c.target_id, audit_events.c.entry)
            .where(audit_events.c.action.like("ssf.%"))
            .order_by(audit_events.c.occurred_at, audit_events.c.id)
        ).all()
    assert [r.action for r in rows] == [
        "ssf.stream.create",
        "ssf.stream.update",
        "ssf.stream.replace",
        "ssf.stream.status",
        "ssf.stream.verify",
        "ssf.stream.delete",
    ]
    assert {r.target_id for r in rows} == {sid} and {
        json.loads(r.entry)["actor"]["kind"] for r in rows
    } == {"key"}


def test_nul_characters_are_a_400_not_a_500(ssf: Ssf):
    """PostgreSQL cannot store NUL; the request is refused before any write."""
    body = b'{"events_requested": ["a\\u0000b"], "description": "x"}'
    resp = ssf.client.post(
        "/ssf/stream", content=body, headers=ssf.auth | {"content-type": "application/json"}
    )
    assert resp.status_code == 400
    assert ssf.client.get("/ssf/stream", headers=ssf.auth).json() == []
