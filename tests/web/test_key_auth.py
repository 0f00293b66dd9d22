"""Bearer authentication of provisioning keys over HTTP (issue 4 points 1-4).

RFC 6750 section 3 (challenges), RFC 7644 section 3.12 (SCIM errors), RFC 9449 section 7.1
(a DPoP-requiring resource refuses bearer use with invalid_token)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ostiary.core.clock import FrozenClock
from ostiary.keys import format as key_format
from ostiary.keys.models import KeyBinding
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.tables import provisioning_keys
from ostiary.store.tables_audit import audit_events
from tests.support.keys import StatementCounter, admin_token, app_client, auth, other_ip

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def _user(name: str = "ada@example.com") -> dict[str, object]:
    return {"schemas": [USER], "userName": name, "name": {"givenName": "Ada"}, "active": True}


def _bind(dep, key_id: str, **changes) -> None:  # type: ignore[no-untyped-def]
    with dep.db.begin() as conn:
        repo = KeyRepository(conn)
        repo.set_binding(key_id, KeyBinding(**changes))


@pytest.fixture
def clock() -> FrozenClock:
    from datetime import UTC, datetime

    return FrozenClock(datetime.now(UTC))


def _actions(dep) -> list[str]:  # type: ignore[no-untyped-def]
    with dep.db.read() as conn:
        return list(
            conn.execute(select(audit_events.c.action).order_by(audit_events.c.seq)).scalars()
        )


def test_malformed_and_bad_checksum_tokens_never_reach_the_database(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Issue 4 point 1: shape and checksum are checked before any read (queries counted)."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        good = dep.make_key(clock=clock).token
        bad_checksum = good[:-1] + ("A" if good[-1] != "A" else "B")
        counter = StatementCounter(tc.app.state.ctx.db, r"provisioning_key")
        try:
            for token in ["nope", "ost_pk_short", bad_checksum, good.replace("ost_pk_", "ost_xx_")]:
                assert tc.get("/scim/v2/Users/x", headers=auth(token)).status_code == 401
            assert counter.count == 0
            assert tc.get("/scim/v2/Users/x", headers=auth(good)).status_code == 404
            assert counter.count > 0
        finally:
            counter.close()


def test_warm_cache_needs_no_read_and_revocation_takes_effect_at_once(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Bearer auth cost: a warm verify does no I/O; revoking through the admin API
    invalidates the cache so the very next request is refused."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        new = dep.make_key(clock=clock)
        assert tc.get("/scim/v2/Users/x", headers=auth(new.token)).status_code == 404
        counter = StatementCounter(tc.app.state.ctx.db, r"provisioning_key")
        try:
            for _ in range(5):
                assert tc.get("/scim/v2/Users/x", headers=auth(new.token)).status_code == 404
            assert counter.count == 0
        finally:
            counter.close()
        admin = {"Authorization": f"Bearer {admin_token(dep, clock)}"}
        resp = tc.post(f"/api/v1/keys/{new.record.id}/revoke", headers=admin)
        assert resp.status_code == 200 and resp.json()["status"] == "revoked"
        assert tc.get("/scim/v2/Users/x", headers=auth(new.token)).status_code == 401


def test_key_requiring_dpop_refuses_bearer_use(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """RFC 9449 section 7.1: a key set to require DPoP gets 401 invalid_token as bearer."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        new = dep.make_key(clock=clock)
        _bind(dep, new.record.id, require_dpop=True)
        resp = tc.get("/scim/v2/Users/x", headers=auth(new.token))
        assert resp.status_code == 401
        assert 'error="invalid_token"' in resp.headers["www-authenticate"]
        assert "DPoP" in resp.json()["detail"]
        principal = tc.app.state.ctx.keys.verify(new.token)
        assert principal.require_dpop  # the token endpoint sees the flag too


def test_cidr_allow_list_refuses_other_sources_and_audits(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Issue 4 point 3: outside the allow-list -> 403 SCIM error, audited."""
    with app_client(database_url, tmp_path, clock, ip="10.1.2.3") as (tc, dep):
        new = dep.make_key(clock=clock)
        _bind(dep, new.record.id, allowed_cidrs=("10.0.0.0/8",))
        assert tc.get("/scim/v2/Users/x", headers=auth(new.token)).status_code == 404
        outside = other_ip(tc, "192.0.2.7").get("/scim/v2/Users/x", headers=auth(new.token))
        assert outside.status_code == 403
        assert outside.json()["status"] == "403"
        assert "auth.key.source_denied" in _actions(dep)


def test_cidr_allow_list_binds_token_issuance_too(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Issue 4 points 3 and 6: a key bound to a network gets no access token
    (client_credentials, RFC 6749 s4.4) from outside it: 401 invalid_client, audited
    and counted as a failed authentication."""
    import orjson

    from tests.support.oauth import basic

    form = {"grant_type": "client_credentials"}
    with app_client(database_url, tmp_path, clock, ip="10.1.2.3") as (tc, dep):
        new = dep.make_key(clock=clock)
        _bind(dep, new.record.id, allowed_cidrs=("10.0.0.0/8",))
        creds = basic(new.record.id, new.token)
        inside = tc.post("/token", data=form, headers=creds)
        assert inside.status_code == 200, inside.text
        outside = other_ip(tc, "192.0.2.7").post("/token", data=form, headers=creds)
        assert outside.status_code == 401
        assert outside.json()["error"] == "invalid_client"
        assert "access_token" not in outside.json()
        with dep.db.read() as conn:
            entries = conn.execute(
                select(audit_events.c.entry).where(
                    audit_events.c.action == "oauth.client_auth.refused"
                )
            ).scalars()
            reasons = [orjson.loads(e)["detail"]["reason"] for e in entries]
        assert reasons == ["source_not_allowed"]


def test_attribute_restrictions_limit_what_a_key_may_write(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Issue 4 point 3: a key restricted to userName/active/name cannot set emails."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        new = dep.make_key(clock=clock)
        _bind(dep, new.record.id, attributes={"User": frozenset({"username", "active", "name"})})
        ok = tc.post("/scim/v2/Users", json=_user(), headers=auth(new.token))
        assert ok.status_code == 201
        doc = _user("bob@example.com") | {"emails": [{"value": "bob@example.com"}]}
        denied = tc.post("/scim/v2/Users", json=doc, headers=auth(new.token))
        assert denied.status_code == 403 and "emails" in denied.json()["detail"]
        assert "auth.attributes.denied" in _actions(dep)


def test_last_use_is_batched_not_written_per_request(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Issue 4 point 4: time, IP and user agent recorded without a write per request."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        new = dep.make_key(clock=clock)
        counter = StatementCounter(tc.app.state.ctx.db, r"^\s*UPDATE provisioning_keys")
        try:
            for _ in range(5):
                headers = auth(new.token) | {"User-Agent": "hr-sync/1.0"}
                assert tc.get("/scim/v2/Users/x", headers=headers).status_code == 404
            assert counter.count == 0
            assert tc.app.state.ctx.key_runtime.flush_usage() == 1
            assert counter.count == 1
        finally:
            counter.close()
        with dep.db.read() as conn:
            row = conn.execute(
                select(provisioning_keys).where(provisioning_keys.c.id == new.record.id)
            ).one()
        assert row.last_used_ip == "192.0.2.10"
        assert row.last_used_user_agent == "hr-sync/1.0"
        assert row.last_used_at is not None


def test_idle_key_expires_after_n_days_unused(
    database_url: str, tmp_path: Path, clock: FrozenClock
):
    """Issue 4 point 4: expiry after N days unused (here 30), even before its end date."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        used = dep.make_key(clock=clock)
        idle = dep.make_key(clock=clock)
        for day in range(0, 35, 10):  # used every 10 days: never idle
            if day:
                clock.advance(timedelta(days=10))
            tc.app.state.ctx.key_runtime.cache.invalidate()
            assert tc.get("/scim/v2/Users/x", headers=auth(used.token)).status_code == 404
        clock.advance(timedelta(days=2))  # idle: 32 days unused; used: 2 days ago
        tc.app.state.ctx.key_runtime.cache.invalidate()
        assert tc.get("/scim/v2/Users/x", headers=auth(used.token)).status_code == 404
        assert tc.get("/scim/v2/Users/x", headers=auth(idle.token)).status_code == 401
        assert "auth.key.refused" in _actions(dep)


def test_display_is_prefix_id_and_last_four(database_url: str, tmp_path: Path, clock: FrozenClock):
    """Issue 4 point 2: shown as prefix + last 4; the API never returns the secret again."""
    with app_client(database_url, tmp_path, clock) as (tc, dep):
        admin = {"Authorization": f"Bearer {admin_token(dep, clock)}"}
        created = tc.post(
            "/api/v1/keys", json={"name": "hr", "scopes": ["users:read"]}, headers=admin
        ).json()
        shown = tc.get(f"/api/v1/keys/{created['id']}", headers=admin).json()
        assert shown["display"] == f"ost_pk_{created['id']}_…{created['key'][-4:]}"
        assert "key" not in shown and created["key"][:-4] not in str(shown)
        assert key_format.parse(created["key"]) is not None
