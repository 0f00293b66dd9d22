"""The sign-in page (issue 6 point 4): CSRF (double submit), argon2id passwords of users
SCIM created, deactivated users refused, server-side sessions with HttpOnly/SameSite
(and Secure + __Host- on https) cookies, no open redirect, every attempt audited."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.store.tables_audit import audit_events
from ostiary.store.tables_oidc import oidc_sessions
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
PASSWORD = "correct horse battery staple"


def _user(client: TestClient, dep: Deployment, name: str = "ada@example.com") -> str:
    key = dep.make_key(["users:read", "users:write"]).token
    resp = client.post(
        "/scim/v2/Users",
        json={"schemas": [USER], "userName": name, "password": PASSWORD},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert resp.status_code == 201, resp.text
    return str(resp.json()["id"])


def _csrf(client: TestClient, next_url: str = "/") -> str:
    page = client.get("/login", params={"next": next_url})
    assert page.status_code == 200
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match
    return match.group(1)


def _login(client: TestClient, username: str, password: str, next_url: str = "/"):
    csrf = _csrf(client, next_url)
    return client.post(
        "/login",
        data={"csrf_token": csrf, "username": username, "password": password, "next": next_url},
        follow_redirects=False,
    )


def _signins(dep: Deployment) -> list[tuple[str, dict]]:
    with dep.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.entry)
            .where(audit_events.c.action == "auth.signin")
            .order_by(audit_events.c.seq)
        ).all()
    docs = [orjson.loads(r.entry) for r in rows]
    return [(doc["outcome"], doc) for doc in docs]  # the outcome is in the entry only


def test_page_is_accessible_and_self_contained(client: TestClient):
    page = client.get("/login")
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    html = page.text
    assert '<html lang="en">' in html
    assert '<label for="username">' in html and '<label for="password">' in html
    assert 'autocomplete="current-password"' in html
    assert "http://" not in html and "https://" not in html  # no external assets
    cookie = page.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


def test_sign_in_creates_a_server_side_session(client: TestClient, deployment: Deployment):
    user_id = _user(client, deployment)
    resp = _login(client, "ada@example.com", PASSWORD, next_url="/after?x=1")
    assert resp.status_code == 303 and resp.headers["location"] == "/after?x=1"
    cookie = next(c for c in resp.headers.get_list("set-cookie") if "ostiary_session=" in c)
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    value = cookie.split("ostiary_session=")[1].split(";")[0]
    with deployment.db.read() as conn:
        rows = conn.execute(select(oidc_sessions)).all()
    assert len(rows) == 1 and rows[0].user_id == user_id
    # Only the cookie's hash is stored, and the public sid is not the cookie.
    assert bytes(rows[0].id_hash) == hashlib.sha256(value.encode()).digest()
    assert value != rows[0].sid
    outcome, event = _signins(deployment)[-1]
    assert outcome == "success" and event["target"]["id"] == rows[0].sid
    assert PASSWORD not in str(event)


@pytest.mark.parametrize("case", ["wrong-password", "unknown-user", "deactivated"])
def test_failed_sign_in_is_generic_and_audited(
    client: TestClient, deployment: Deployment, case: str
):
    user_id = _user(client, deployment)
    if case == "deactivated":
        from ostiary.store.tables import users

        with deployment.db.begin() as conn:
            conn.execute(users.update().where(users.c.id == user_id).values(active=False))
    name, password = {
        "wrong-password": ("ada@example.com", "nope"),
        "unknown-user": ("nobody@example.com", PASSWORD),
        "deactivated": ("ada@example.com", PASSWORD),
    }[case]
    resp = _login(client, name, password)
    assert resp.status_code == 401
    assert "The username or password is incorrect" in resp.text
    assert "ostiary_session" not in resp.headers.get("set-cookie", "")
    outcome, event = _signins(deployment)[-1]
    reason = {
        "wrong-password": "wrong_password",
        "unknown-user": "unknown_user",
        "deactivated": "inactive",
    }[case]
    assert outcome == "failure" and event["detail"]["reason"] == reason


def test_csrf_token_is_required(client: TestClient, deployment: Deployment):
    _user(client, deployment)
    _csrf(client)
    forged = client.post(
        "/login",
        data={"csrf_token": "forged", "username": "ada@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    client.cookies.clear()
    no_cookie = client.post(
        "/login",
        data={"csrf_token": "x", "username": "ada@example.com", "password": PASSWORD},
        follow_redirects=False,
    )
    assert no_cookie.status_code == 403
    assert _signins(deployment) == []


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil"])
def test_next_cannot_leave_the_site(client: TestClient, deployment: Deployment, target: str):
    _user(client, deployment)
    resp = _login(client, "ada@example.com", PASSWORD, next_url=target)
    assert resp.status_code == 303 and resp.headers["location"] == "/"


@pytest.fixture
def https_client(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Deployment]]:
    dep = deploy(database_url, tmp_path)
    settings = dep.settings.model_copy(update={"issuer": "https://testserver"})
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as tc:
        yield tc, dep
    app.state.ctx.db.dispose()
    dep.db.dispose()


def test_https_cookies_are_secure_with_host_prefix(https_client):
    client, dep = https_client
    _user(client, dep)
    resp = _login(client, "ada@example.com", PASSWORD)
    cookie = next(c for c in resp.headers.get_list("set-cookie") if "ostiary_session=" in c)
    assert cookie.startswith("__Host-ostiary_session=") and "Secure" in cookie
    assert "Domain" not in cookie


def test_session_ends_with_expiry_logout_or_deprovisioning(
    client: TestClient, deployment: Deployment
):
    """Issue 6 point 8: a session is only live while unexpired, not ended, user active."""
    from datetime import UTC, datetime, timedelta

    from ostiary.store.repositories.sessions import SessionRepository
    from ostiary.store.tables import users

    user_id = _user(client, deployment)
    resp = _login(client, "ada@example.com", PASSWORD)
    cookie = next(c for c in resp.headers.get_list("set-cookie") if "ostiary_session=" in c)
    value = cookie.split("ostiary_session=")[1].split(";")[0]
    now = datetime.now(UTC)
    with deployment.db.begin() as conn:
        repo = SessionRepository(conn)
        assert repo.current(value, now) is not None
        assert repo.current(value, now + timedelta(hours=13)) is None
        conn.execute(users.update().where(users.c.id == user_id).values(active=False))
        assert repo.current(value, now) is None
        conn.execute(users.update().where(users.c.id == user_id).values(active=True))
        assert repo.end(value, now) is not None
        assert repo.current(value, now) is None


def test_failed_sign_ins_are_throttled_per_user_and_address(
    client: TestClient, deployment: Deployment
):
    """Issue 6 point 4: after 5 failures for a username from one address, sign-in is
    refused (429) without a password check, even with the right password; audited."""
    _user(client, deployment)
    for _ in range(5):
        assert _login(client, "ada@example.com", "wrong").status_code == 401
    blocked = _login(client, "ada@example.com", PASSWORD)
    assert blocked.status_code == 429 and "Too many failed attempts" in blocked.text
    assert _signins(deployment)[-1][1]["detail"]["reason"] == "throttled"
    # Another user is unaffected.
    _user(client, deployment, "grace@example.com")
    assert _login(client, "grace@example.com", PASSWORD).status_code == 303


def test_sign_out_confirms_then_ends_the_session(client: TestClient, deployment: Deployment):
    """Issue 6 point 8 (and RP-Initiated Logout 1.0 section 2's confirmation page)."""
    from ostiary.store.repositories.sessions import SessionRepository

    _user(client, deployment)
    resp = _login(client, "ada@example.com", PASSWORD)
    cookie = next(c for c in resp.headers.get_list("set-cookie") if "ostiary_session=" in c)
    value = cookie.split("ostiary_session=")[1].split(";")[0]
    page = client.get("/logout")
    assert page.status_code == 200 and "Sign out?" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    forged = client.post("/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    page = client.get("/logout")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    done = client.post("/logout", data={"csrf_token": csrf.group(1)})
    assert done.status_code == 200 and "You are signed out" in done.text
    with deployment.db.read() as conn:
        from datetime import UTC, datetime

        assert SessionRepository(conn).current(value, datetime.now(UTC)) is None
        actions = conn.execute(select(audit_events.c.action)).scalars().all()
    assert "auth.signout" in actions
