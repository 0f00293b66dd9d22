"""Console sign-in, sessions and the guard on every route (issue 9 points 1, 2, 3 and 4):
sign-in through Ostiary's own login, the console cookie's flags, idle timeout, CSRF,
re-authentication before destructive actions, the second factor for key pages, role
enforcement (403) on every route, and the security headers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.repositories.roles import RoleRepository
from ostiary.web.console.routes import routes
from tests.support.deploy import Deployment
from tests.web.console_support import CSP, actions, csrf, login, make_user, otp_login


def test_point2_signin_goes_through_the_login_page_and_sets_a_strict_cookie(
    client: TestClient, deployment: Deployment
):
    make_user(deployment, "root@example.com", "owner")
    first = client.get("/console/users", follow_redirects=False)
    assert first.status_code == 303
    assert first.headers["location"].startswith("/console/signin?next=%2Fconsole%2Fusers")
    to_login = client.get(first.headers["location"], follow_redirects=False)
    assert to_login.headers["location"].startswith("/login?next=%2Fconsole%2Fsignin")
    login(client, "root@example.com")
    cookie = next(
        c
        for c in client.get(
            "/console/signin?next=/console", follow_redirects=False
        ).headers.get_list("set-cookie")
        if c.startswith("ostiary_console=")
    )
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    page = client.get("/console")
    assert page.status_code == 200 and "Dashboard" in page.text
    assert ("console.signin", "success") in [(a, o) for a, o, _ in actions(deployment)]


def test_point4_https_issuer_uses_secure_host_prefixed_cookie(deployment: Deployment, clock):
    from ostiary.web.app import create_app

    settings = deployment.settings.model_copy(update={"issuer": "https://id.example"})
    app = create_app(settings, clock=clock)
    user_id = make_user(deployment, "root@example.com", "owner")
    with TestClient(app, base_url="https://id.example") as tc:
        from ostiary.store.repositories.sessions import SessionRepository

        now = clock.now()
        with deployment.db.begin() as conn:
            cookie, _ = SessionRepository(conn).create(
                user_id, now, now + timedelta(hours=1), ["pwd"]
            )
        tc.cookies.set("__Host-ostiary_session", cookie)
        resp = tc.get("/console/signin?next=/console", follow_redirects=False)
        set_cookie = resp.headers["set-cookie"]
        assert set_cookie.startswith("__Host-ostiary_console=")
        assert "Secure" in set_cookie and "Path=/" in set_cookie and "HttpOnly" in set_cookie
    app.state.ctx.db.dispose()


def test_point1_a_user_without_a_role_is_refused(client: TestClient, deployment: Deployment):
    make_user(deployment, "plain@example.com")
    page = client.get("/login")
    resp = client.post(
        "/login",
        data={
            "csrf_token": csrf(page.text),
            "username": "plain@example.com",
            "password": "correct horse battery staple",
            "next": "/console/signin?next=/console",
        },
        follow_redirects=True,
    )
    assert resp.status_code == 403 and "no administrator role" in resp.text
    assert client.get("/console", follow_redirects=False).status_code == 303
    assert ("console.signin", "denied") in [(a, o) for a, o, _ in actions(deployment)]


def test_point4_idle_timeout_ends_the_console_session(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    make_user(deployment, "root@example.com", "owner")
    login(client, "root@example.com")
    clock.advance(timedelta(minutes=10))
    assert client.get("/console", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=10))  # used 10 minutes ago: still inside 15
    assert client.get("/console", follow_redirects=False).status_code == 200
    clock.advance(timedelta(minutes=16))
    resp = client.get("/console", follow_redirects=False)
    assert resp.status_code == 303 and resp.headers["location"].startswith("/console/signin")


def test_point4_ending_the_sign_in_session_ends_the_console(
    client: TestClient, deployment: Deployment
):
    make_user(deployment, "root@example.com", "owner")
    login(client, "root@example.com")
    page = client.get("/console")
    out = client.post(
        "/console/signout", data={"csrf_token": csrf(page.text)}, follow_redirects=False
    )
    assert out.status_code == 303 and out.headers["location"] == "/logout"
    assert client.get("/console", follow_redirects=False).status_code == 303
    assert ("console.signout", "success") in [(a, o) for a, o, _ in actions(deployment)]


def test_point3_a_revoked_role_takes_effect_on_the_next_request(
    client: TestClient, deployment: Deployment
):
    user_id = make_user(deployment, "help@example.com", "helpdesk")
    login(client, "help@example.com")
    assert client.get("/console/users").status_code == 200
    with deployment.db.begin() as conn:
        RoleRepository(conn).revoke(user_id, "helpdesk")
    assert client.get("/console/users", follow_redirects=False).status_code == 303


def test_point4_csrf_token_is_required_on_every_post(client: TestClient, deployment: Deployment):
    make_user(deployment, "help@example.com", "helpdesk")
    victim = make_user(deployment, "ada@example.com")
    login(client, "help@example.com")
    for token in ("", "0" * 64):
        resp = client.post(f"/console/users/{victim}/deactivate", data={"csrf_token": token})
        assert resp.status_code == 403 and "form expired" in resp.text
    token = csrf(client.get(f"/console/users/{victim}").text)
    for origin in ("https://evil.example", "http://testserver.evil.example"):
        resp = client.post(
            f"/console/users/{victim}/deactivate",
            data={"csrf_token": token},
            headers={"Origin": origin},
        )
        assert resp.status_code == 403 and "another site" in resp.text
    huge = client.post(f"/console/users/{victim}/deactivate", data={"csrf_token": "x" * 20_000})
    assert huge.status_code == 413
    assert client.get(f"/console/users/{victim}").text.count("Deactivate user") == 1


def test_point4_destructive_actions_need_a_recent_sign_in(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    make_user(deployment, "help@example.com", "helpdesk")
    victim = make_user(deployment, "ada@example.com")
    login(client, "help@example.com")
    clock.advance(timedelta(minutes=6))
    page = client.get(f"/console/users/{victim}")
    resp = client.post(
        f"/console/users/{victim}/deactivate",
        data={"csrf_token": csrf(page.text), "back": f"/console/users/{victim}"},
        follow_redirects=False,
    )
    assert resp.status_code == 303
    assert resp.headers["location"].startswith("/console/signin?next=%2Fconsole%2Fusers%2F")
    assert "max_age=300" in resp.headers["location"]
    again = client.get(resp.headers["location"], follow_redirects=False)
    assert again.headers["location"].startswith("/login?")  # the sign-in is too old
    assert "Deactivate user" in client.get(f"/console/users/{victim}").text  # still active
    login(client, "help@example.com", f"/console/users/{victim}")
    page = client.get(f"/console/users/{victim}")
    done = client.post(
        f"/console/users/{victim}/deactivate",
        data={"csrf_token": csrf(page.text), "back": f"/console/users/{victim}"},
    )
    assert done.status_code == 200 and "deactivated" in done.text


# (role, path, status): every area per role; 403 is the refusal page.
MATRIX = [
    ("auditor", "/console/keys", 403),
    ("auditor", "/console/audit", 200),
    ("auditor", "/console/users", 200),
    ("auditor", "/console/groups", 200),
    ("auditor", "/console/clients", 200),
    ("auditor", "/console/ssf", 200),
    ("helpdesk", "/console/users", 200),
    ("helpdesk", "/console/groups", 403),
    ("helpdesk", "/console/clients", 403),
    ("helpdesk", "/console/keys", 403),
    ("helpdesk", "/console/audit", 403),
    ("helpdesk", "/console/ssf", 403),
    ("key-manager", "/console/users", 403),
    ("key-manager", "/console/audit", 403),
    ("admin", "/console/audit", 200),
]


@pytest.mark.parametrize(("role", "path", "status"), MATRIX)
def test_point3_server_enforces_roles_on_every_area(
    client: TestClient, deployment: Deployment, role: str, path: str, status: int
):
    make_user(deployment, "someone@example.com", role)
    login(client, "someone@example.com")
    resp = client.get(path, follow_redirects=False)
    assert resp.status_code == status
    if status == 403:
        assert "Not allowed" in resp.text
        assert ("console.denied", "denied") in [(a, o) for a, o, _ in actions(deployment)]


def test_point3_auditor_cannot_post_key_actions_either(client: TestClient, deployment: Deployment):
    make_user(deployment, "audit@example.com", "auditor")
    login(client, "audit@example.com")
    token = csrf(client.get("/console").text)
    for path in ("/console/keys", "/console/keys/x/rotate", "/console/keys/x/revoke"):
        assert client.post(path, data={"csrf_token": token, "name": "n"}).status_code == 403
    dashboard = client.get("/console").text
    assert "Provisioning keys" not in dashboard and "provisioning keys</li>" not in dashboard


def test_point2_key_pages_need_a_second_factor(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """amr without "otp" (a password-only sign-in): refused; with it: allowed."""
    owner = make_user(deployment, "root@example.com", "owner")
    login(client, "root@example.com")
    resp = client.get("/console/keys")
    assert resp.status_code == 403 and "one-time code" in resp.text
    assert "one-time code" in client.get("/console").text
    otp_login(client, deployment, owner, clock)
    assert client.get("/console/keys").status_code == 200


def test_point3_every_guarded_route_refuses_an_anonymous_browser(client: TestClient):
    for route in routes:
        path = route.path.replace("{user_id}", "u").replace("{group_id}", "g")
        path = path.replace("{client_id}", "c").replace("{key_id}", "k").replace("{name}", "x")
        if path.startswith(("/console/static", "/console/signin")):
            continue
        for method in route.methods or ():
            if method == "HEAD":
                continue
            resp = client.request(method, path, follow_redirects=False)
            assert resp.status_code == 303, (method, path)
            assert resp.headers["location"].startswith("/console/signin")


def test_point4_security_headers_on_console_pages(client: TestClient, deployment: Deployment):
    make_user(deployment, "root@example.com", "owner")
    login(client, "root@example.com")
    for path in ("/console", "/console/users", "/console/keys", "/console/audit"):
        resp = client.get(path)
        assert resp.headers["content-security-policy"] == CSP
        assert "unsafe-inline" not in resp.headers["content-security-policy"]
        assert resp.headers["x-frame-options"] == "DENY"
        assert resp.headers["referrer-policy"] == "no-referrer"
        assert resp.headers["cache-control"] == "no-store"
        assert "<style" not in resp.text and "style=" not in resp.text
        assert "<script>" not in resp.text and "http://" not in resp.text.replace(
            "http://testserver", ""
        )
    css = client.get("/console/static/console.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/console/static/console.js").status_code == 200
    assert client.get("/console/static/../app.py").status_code == 404


def test_point4_next_cannot_leave_the_console(client: TestClient, deployment: Deployment):
    make_user(deployment, "root@example.com", "owner")
    login(client, "root@example.com")
    for bad in ("https://evil.example/", "//evil.example", "/login", "/console//evil"):
        resp = client.get("/console/signin", params={"next": bad}, follow_redirects=False)
        assert resp.headers["location"] == "/console"


def test_point4_signing_out_of_ostiary_or_deactivation_ends_the_console(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """The console session rides on the sign-in session: /logout (end_all here) or the
    administrator's deactivation ends it at once."""
    from ostiary.store.repositories.sessions import SessionRepository

    admin = make_user(deployment, "root@example.com", "owner")
    login(client, "root@example.com")
    assert client.get("/console", follow_redirects=False).status_code == 200
    with deployment.db.begin() as conn:
        SessionRepository(conn).end_all(admin, clock.now())
    assert client.get("/console", follow_redirects=False).status_code == 303


def test_point3_a_deactivated_administrator_is_out_at_once(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    from dataclasses import replace

    from ostiary.store.repositories.users import UserRepository

    admin = make_user(deployment, "root@example.com", "owner")
    login(client, "root@example.com")
    with deployment.db.begin() as conn:
        users = UserRepository(conn)
        user = users.require(admin)
        users.update(replace(user, active=False, version=user.version + 1), user.version)
    assert client.get("/console", follow_redirects=False).status_code == 303
    again = client.get("/console/signin?next=/console", follow_redirects=False)
    assert again.headers["location"].startswith("/login?")  # no sign-in session either
