"""Helpers for the console tests: administrators made in the database, signed in either
through the real /login page or (for a second factor, until TOTP sign-in exists) with a
sign-in session constructed with the amr a TOTP sign-in records."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import orjson
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.repositories.sessions import SessionRepository
from ostiary.store.tables_audit import audit_events
from tests.support.admins import PASSWORD, add_user
from tests.support.deploy import Deployment

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)


def make_user(dep: Deployment, name: str, *roles: str, clock: FrozenClock | None = None) -> str:
    return add_user(dep.db, name, roles, clock.now() if clock else datetime.now(UTC))


def login(client: TestClient, username: str, next_url: str = "/console") -> None:
    """The real sign-in page, then /console/signin (what a browser's redirects do)."""
    page = client.get("/login", params={"next": f"/console/signin?next={next_url}"})
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    resp = client.post(
        "/login",
        data={
            "csrf_token": csrf.group(1),
            "username": username,
            "password": PASSWORD,
            "next": f"/console/signin?next={next_url}",
        },
        follow_redirects=False,
    )
    assert resp.status_code == 303, resp.text
    signed = client.get(resp.headers["location"], follow_redirects=False)
    assert signed.status_code == 303, signed.text


def otp_login(client: TestClient, dep: Deployment, user_id: str, clock: FrozenClock) -> None:
    """A sign-in session whose amr holds "otp" (as a TOTP sign-in records), then the console."""
    now = clock.now()
    with dep.db.begin() as conn:
        cookie, _ = SessionRepository(conn).create(
            user_id, now, now + timedelta(hours=12), ["pwd", "otp"]
        )
    client.cookies.clear()  # a browser that signed in again: only the new session cookie
    client.cookies.set("ostiary_session", cookie)
    resp = client.get("/console/signin", params={"next": "/console"}, follow_redirects=False)
    assert resp.status_code == 303, resp.text


def csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def actions(dep: Deployment, prefix: str = "") -> list[tuple[str, str, str]]:
    """(action, outcome, actor id) of every audit event whose action starts with prefix."""
    with dep.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.action, audit_events.c.entry, audit_events.c.actor_id)
            .where(audit_events.c.action.startswith(prefix))
            .order_by(audit_events.c.seq)
        ).all()
    # The outcome is in the entry only (migration 0024).
    return [(r.action, orjson.loads(r.entry)["outcome"], r.actor_id) for r in rows]
