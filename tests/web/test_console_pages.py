"""Console pages (issue 9 point 2) and that every action is audited with the console
administrator as the actor (point 3): users (SCIM filter search, view, deactivate with
the deprovisioning fan-out), groups, applications, provisioning keys (secret shown once,
rotate, disable, revoke), the audit trail with verification, SSF streams, the dashboard."""

from __future__ import annotations

import re

from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.keys.models import KeyStatus
from ostiary.store import bootstrap
from ostiary.store.repositories.keys import KeyRepository
from ostiary.store.repositories.sessions import SessionRepository
from ostiary.store.repositories.webhooks import WebhookRepository
from ostiary.store.tables_signals import outbox
from tests.audit.support import tamper
from tests.support.deploy import Deployment
from tests.support.rp import register
from tests.web.console_support import actions, csrf, login, make_user, otp_login

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
SECRET = re.compile(r"ost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}")


def _owner(client: TestClient, dep: Deployment, clock: FrozenClock) -> str:
    owner = make_user(dep, "root@example.com", "owner", clock=clock)
    otp_login(client, dep, owner, clock)
    return owner


def _post(client: TestClient, path: str, page_path: str, **data: str):
    token = csrf(client.get(page_path).text)
    return client.post(path, data={"csrf_token": token, "back": page_path, **data})


def test_point2_users_search_with_scim_filters(client: TestClient, deployment: Deployment):
    make_user(deployment, "help@example.com", "helpdesk")
    make_user(deployment, "ada@example.com")
    make_user(deployment, "bob@example.com")
    login(client, "help@example.com")
    found = client.get("/console/users", params={"filter": 'userName sw "ada"'})
    assert found.status_code == 200
    assert "ada@example.com" in found.text and "bob@example.com" not in found.text
    assert "1 matching" in found.text
    every = client.get("/console/users").text
    assert "ada@example.com" in every and "bob@example.com" in every
    bad = client.get("/console/users", params={"filter": 'userName eq "x" and'})
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    unknown = client.get("/console/users", params={"filter": 'shoeSize eq "9"'})
    assert unknown.status_code == 400
    assert client.get("/console/users/no-such-user").status_code == 404
    assert client.get("/console/groups/no-such-group", follow_redirects=False).status_code == 403


def test_point2_helpdesk_deactivates_a_user_with_the_full_deprovisioning(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    helpdesk = make_user(deployment, "help@example.com", "helpdesk", clock=clock)
    victim = make_user(deployment, "ada@example.com", clock=clock)
    with deployment.db.begin() as conn:
        vault = bootstrap.open_vault(deployment.settings, deployment.db)
        WebhookRepository(conn, vault).create(
            "http://127.0.0.1:9/hook", ["user.deprovisioned"], b"s" * 32, clock.now()
        )
        victim_cookie, _ = SessionRepository(conn).create(
            victim, clock.now(), clock.now().replace(year=2099), ["pwd"]
        )
    login(client, "help@example.com")
    page = f"/console/users/{victim}"
    done = _post(client, f"/console/users/{victim}/deactivate", page)
    assert done.status_code == 200 and "deactivated" in done.text
    # The deprovisioning events are on the user's page, for the helpdesk to see.
    assert "scim.user.deactivate" in done.text and "sessions_ended=1" in done.text
    assert ("console.user.deactivate", "success", helpdesk) in actions(deployment, "console.")
    assert ("scim.user.deactivate", "success", helpdesk) in actions(deployment, "scim.")
    with deployment.db.read() as conn:
        assert SessionRepository(conn).current(victim_cookie, clock.now()) is None
        topics = conn.execute(select(outbox.c.topic)).scalars().all()
    assert "webhook" in topics
    key = deployment.make_key(["users:read"]).token
    scim = client.get(f"/scim/v2/Users/{victim}", headers={"Authorization": f"Bearer {key}"})
    assert scim.json()["active"] is False


def test_point2_groups_and_applications(client: TestClient, deployment: Deployment):
    make_user(deployment, "audit@example.com", "auditor")
    ada = make_user(deployment, "ada@example.com")
    key = deployment.make_key().token
    made = client.post(
        "/scim/v2/Groups",
        json={"schemas": [GROUP], "displayName": "Engineering", "members": [{"value": ada}]},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert made.status_code == 201, made.text
    register(client.app, client_id="payroll-app")
    login(client, "audit@example.com")
    groups = client.get("/console/groups", params={"filter": 'displayName co "engin"'})
    assert "Engineering" in groups.text
    group = client.get(f"/console/groups/{made.json()['id']}")
    assert "ada@example.com" in group.text
    assert "payroll-app" in client.get("/console/clients").text
    shown = client.get("/console/clients/payroll-app")
    assert shown.status_code == 200 and "first party" in shown.text
    assert client.get("/console/clients/nope").status_code == 404
    assert "Delete application" not in shown.text  # read-only role
    refused = _post(client, "/console/clients/payroll-app/delete", "/console/clients")
    assert refused.status_code == 403


def test_point2_admin_deletes_an_application_after_a_recent_sign_in(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    from datetime import timedelta

    admin = make_user(deployment, "admin@example.com", "admin", clock=clock)
    register(client.app, client_id="payroll-app")
    login(client, "admin@example.com")
    page = "/console/clients/payroll-app"
    clock.advance(timedelta(minutes=6))
    stale = _post(client, f"{page}/delete", page)  # followed: to sign in again
    assert stale.url.path == "/login" and "payroll-app" in client.get("/console/clients").text
    login(client, "admin@example.com", page)
    done = _post(client, f"{page}/delete", page)
    assert done.status_code == 200 and "payroll-app" not in done.text
    assert ("client.delete", "success", admin) in actions(deployment, "client.")


def test_point2_owner_creates_a_key_and_sees_the_secret_once(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    owner = _owner(client, deployment, clock)
    shown = _post(
        client,
        "/console/keys",
        "/console/keys",
        name="HR system",
        scopes="users:read users:write",
        expires_in="30",
    )
    assert shown.status_code == 200
    secrets = SECRET.findall(shown.text)
    assert len(secrets) == 1 and "shown only once" in shown.text
    key_id = secrets[0][7:19]
    again = client.get(f"/console/keys/{key_id}")
    assert again.status_code == 200 and not SECRET.search(again.text)
    assert not SECRET.search(client.get("/console/keys").text)
    with deployment.db.read() as conn:
        record = KeyRepository(conn).require(key_id)
    assert record.scopes == {"users:read", "users:write"}
    assert record.created_by == f"user:{owner}"
    # The secret works against SCIM: it is the key, not a display value.
    resp = client.get("/scim/v2/Users", headers={"Authorization": f"Bearer {secrets[0]}"})
    assert resp.status_code == 200
    assert ("key.create", "success", owner) in actions(deployment, "key.")


def test_point2_rotate_disable_enable_and_revoke(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    owner = _owner(client, deployment, clock)
    key = deployment.make_key(["users:read"], clock=clock)
    page = f"/console/keys/{key.record.id}"
    rotated = _post(client, f"{page}/rotate", page, overlap="0")
    new = SECRET.findall(rotated.text)
    assert len(new) == 1 and new[0] != key.token
    assert not SECRET.search(client.get(page).text)
    assert _post(client, f"{page}/disable", page).status_code == 200
    assert _post(client, f"{page}/enable", page).status_code == 200
    assert _post(client, f"{page}/revoke", page).status_code == 200
    with deployment.db.read() as conn:
        assert KeyRepository(conn).require(key.record.id).status is KeyStatus.REVOKED
    final = _post(client, f"{page}/enable", page)
    assert final.status_code == 409 and "final" in final.text
    done = [a for a, _, who in actions(deployment, "key.") if who == owner]
    assert done == ["key.rotate", "key.disable", "key.enable", "key.revoke"]


def test_point2_bad_key_input_is_a_clear_400(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    _owner(client, deployment, clock)
    for data in ({"name": "", "scopes": "users:read"}, {"name": "x", "scopes": "root"}):
        resp = _post(client, "/console/keys", "/console/keys", **data)
        assert resp.status_code == 400 and 'role="alert"' in resp.text
    assert not actions(deployment, "key.create")
    assert client.get("/console/keys/nope").status_code == 404


def test_point2_audit_trail_search_and_verification(client: TestClient, deployment: Deployment):
    auditor = make_user(deployment, "audit@example.com", "auditor")
    make_user(deployment, "ada@example.com")
    login(client, "audit@example.com")
    page = client.get("/console/audit", params={"action": "console.*"})
    assert page.status_code == 200 and "console.signin" in page.text
    assert "auth.signin" not in page.text
    assert "events in the tamper-evident log" in page.text
    verified = _post(client, "/console/audit/verify", "/console/audit")
    assert verified.status_code == 200 and "Verified:" in verified.text
    assert ("console.audit.verify", "success", auditor) in actions(deployment, "console.")


def test_point2_audit_verification_reports_tampering(client: TestClient, deployment: Deployment):
    make_user(deployment, "audit@example.com", "auditor")
    login(client, "audit@example.com")
    tamper(deployment, "UPDATE audit_events SET action = 'forged' WHERE seq = 0")
    verified = _post(client, "/console/audit/verify", "/console/audit")
    assert "Verification FAILED" in verified.text


def test_point2_dashboard_and_streams(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    deployment.make_key(["users:read", "users:write"], clock=clock)
    make_user(deployment, "ada@example.com")
    _owner(client, deployment, clock)
    page = client.get("/console")
    assert page.status_code == 200
    assert "Recent provisioning activity" in page.text and "Keys expiring" in page.text
    assert "deliveries pending" in page.text and "Anomalies" in page.text
    ssf = client.get("/console/ssf")
    assert ssf.status_code == 200 and "No streams." in ssf.text


def test_point2_helpdesk_dashboard_shows_users_only(client: TestClient, deployment: Deployment):
    make_user(deployment, "help@example.com", "helpdesk")
    login(client, "help@example.com")
    page = client.get("/console").text
    assert "users (" in page
    for hidden in ("groups</li>", "applications</li>", "provisioning keys", "Anomalies"):
        assert hidden not in page
    assert 'href="/console/users"' in page and 'href="/console/audit"' not in page
