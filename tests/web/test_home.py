"""The page at ``/`` (issue "root page 404"): ``/login`` without a usable ``next`` lands
there (``login.safe_next``), so it must show who is signed in and sign out through the
CSRF-checked ``/logout``; signed out, it links to sign-in and the operator entry points.
Real app, real sessions, real HTTP through the test client."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.tables_audit import audit_events
from tests.support.deploy import Deployment
from tests.support.logout import csrf_of
from tests.support.rp import PASSWORD, authorize_params, pkce_pair, register, scim_user

OPERATOR_LINKS = (
    "/console",
    "/.well-known/openid-configuration",
    "/scim/v2/ServiceProviderConfig",
    "/api/docs",
    "/healthz",
)


def _links(html: str) -> set[str]:
    return set(re.findall(r'href="([^"]+)"', html))


def _sign_in_without_next(client: TestClient, username: str = "ada@example.com"):
    """The sign-in form posted with no ``next`` at all: ``safe_next`` falls back to /."""
    csrf = csrf_of(client.get("/login").text)
    return client.post(
        "/login",
        data={"csrf_token": csrf, "username": username, "password": PASSWORD},
        follow_redirects=False,
    )


def _assert_signed_out_page(resp) -> None:
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "Signed in as" not in resp.text
    assert 'href="/login"' in resp.text and "Sign in" in resp.text
    assert "ostiary_logout_csrf" not in resp.headers.get("set-cookie", "")


def test_signed_out_page_links_to_sign_in_and_operator_pages(client: TestClient):
    resp = client.get("/")
    _assert_signed_out_page(resp)
    assert {"/login", *OPERATOR_LINKS} <= _links(resp.text)
    # Every link it offers answers (the console sends a signed-out browser to sign in).
    for link in OPERATOR_LINKS:
        assert client.get(link, follow_redirects=False).status_code in {200, 303}, link
    # no-store: the same URL is personalised by cookie (see web/oauth/home.py).
    assert resp.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in resp.headers["content-security-policy"]
    assert resp.headers["x-frame-options"] == "DENY"
    assert "http://" not in resp.text and "https://" not in resp.text  # no external assets


def test_head_answers_and_unknown_paths_stay_404(client: TestClient):
    head = client.head("/")
    assert head.status_code == 200 and head.headers["content-type"].startswith("text/html")
    assert head.content == b""
    assert client.get("/nope").status_code == 404
    assert client.get("/index.html").status_code == 404
    # Only GET/HEAD are routed; a POST falls through to the admin app's Mount("/") and 404s.
    assert client.post("/").status_code == 404


def test_sign_in_without_next_lands_on_the_signed_in_page(
    client: TestClient, deployment: Deployment
):
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    resp = _sign_in_without_next(client)
    assert resp.status_code == 303 and resp.headers["location"] == "/"
    page = client.get(resp.headers["location"])
    assert page.status_code == 200
    assert "Signed in as <strong>ada@example.com</strong>" in page.text
    assert page.headers["cache-control"] == "no-store"
    # The sign-out form posts to /logout with that endpoint's double-submit token.
    assert '<form method="post" action="/logout">' in page.text
    cookie = next(c for c in page.headers.get_list("set-cookie") if "ostiary_logout_csrf=" in c)
    assert "Path=/logout" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "/console" not in _links(page.text)  # the signed-in page is the user's own


def test_sign_out_from_the_page_ends_the_session(client: TestClient, deployment: Deployment):
    """The button goes through /logout (issue 6 point 8): a forged token is refused, the
    real one ends the session, and /authorize then asks for a sign-in again."""
    register(client.app)
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    _sign_in_without_next(client)
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    before = client.get("/authorize", params=params, follow_redirects=False)
    assert before.headers["location"].startswith("https://rp.example.com/cb?code=")

    assert "Signed in as" in client.get("/").text  # sets the /logout CSRF cookie
    forged = client.post("/logout", data={"csrf_token": "forged"})
    assert forged.status_code == 403
    csrf = csrf_of(client.get("/").text)  # the refusal replaced the cookie: reload
    done = client.post("/logout", data={"csrf_token": csrf})
    assert done.status_code == 200 and "You are signed out" in done.text

    _assert_signed_out_page(client.get("/"))
    after = client.get("/authorize", params=params, follow_redirects=False)
    assert after.status_code == 303 and after.headers["location"].startswith("/login?")
    with deployment.db.read() as conn:
        actions = conn.execute(select(audit_events.c.action)).scalars().all()
    assert "auth.signout" in actions


def test_unusable_session_cookies_get_the_signed_out_page(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """Garbage, unknown and expired cookies: never a 500, never a name."""
    junk = [b"", b"garbage", b"x" * 3000, b"%00%ff", "\u00e9".encode(), b'"open; a=b', b"\xff\xfe"]
    for value in junk:  # raw header bytes: a browser may send anything
        resp = client.get("/", headers={"Cookie": b"ostiary_session=" + value})
        _assert_signed_out_page(resp)
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token)
    _sign_in_without_next(client)
    assert "Signed in as" in client.get("/").text
    clock.advance(timedelta(hours=deployment.settings.session_lifetime_hours, seconds=1))
    _assert_signed_out_page(client.get("/"))


def test_user_name_is_escaped(client: TestClient, deployment: Deployment):
    name = '<b>o"brien</b>&co@example.com'
    scim_user(client, deployment.make_key(["users:read", "users:write"]).token, name)
    assert _sign_in_without_next(client, name).status_code == 303
    page = client.get("/")
    assert "<b>" not in page.text
    assert "&lt;b&gt;o&#34;brien&lt;/b&gt;&amp;co@example.com" in page.text
