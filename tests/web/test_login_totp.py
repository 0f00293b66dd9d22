"""TOTP as the second sign-in factor (issue 6 point 4; RFC 6238, RFC 4226): enrolment at
/account/totp, the code page after the password, replay refused (RFC 6238 section 5.2),
failures throttled with passwords, a half-signed-in state that is never a session, the
session's amr (RFC 8176) and the ID token's amr/acr (OIDC Core section 2)."""

from __future__ import annotations

import html
import re
from typing import Any

import orjson
import pytest
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.directory import totp
from ostiary.oidc.acr import MFA, PWD
from ostiary.store.repositories.totp import TotpRepository, has_totp
from ostiary.store.tables_audit import audit_events
from ostiary.store.tables_oidc import oidc_sessions
from ostiary.store.tables_totp import user_totp
from ostiary.web.app import create_app
from ostiary.web.oauth.second_factor import qr_svg
from tests.support.deploy import Deployment
from tests.support.rp import (
    PASSWORD,
    REDIRECT,
    authorize_params,
    enter_totp,
    pkce_pair,
    query_of,
    register,
    scim_user,
    sign_in,
    verify_id_token,
)

SECRET = b"12345678901234567890"


def _user(client: TestClient, dep: Deployment, name: str = "ada@example.com") -> str:
    return scim_user(client, dep.make_key(["users:read", "users:write"]).token, name)


def _enrol(client: TestClient, user_id: str, clock: FrozenClock) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.db.begin() as conn:
        TotpRepository(conn, ctx.vault).put(user_id, SECRET, clock.now(), confirmed=True)


def _password(client: TestClient, next_url: str = "/done", user: str = "ada@example.com"):
    return sign_in(client, "/login?next=" + next_url, username=user)


def _audit(dep: Deployment, action: str) -> list[tuple[str, dict[str, Any]]]:
    with dep.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.entry)
            .where(audit_events.c.action == action)
            .order_by(audit_events.c.seq)
        ).all()
    docs = [orjson.loads(r.entry) for r in rows]
    return [(doc["outcome"], doc) for doc in docs]  # the outcome is in the entry only


def _session_cookie(resp: Any) -> str | None:
    for header in resp.headers.get_list("set-cookie"):
        if header.startswith("ostiary_session=") and not header.startswith('ostiary_session="";'):
            return header
    return None


def test_password_then_code_gives_a_session_with_pwd_and_otp(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """RFC 6238 section 4 codes at the second page; amr ["pwd", "otp"] (RFC 8176)."""
    user_id = _user(client, deployment)
    _enrol(client, user_id, clock)
    first = _password(client)
    assert first.status_code == 303 and first.headers["location"] == "/login/totp"
    assert _session_cookie(first) is None
    pending = next(c for c in first.headers.get_list("set-cookie") if c.startswith("ostiary_mfa="))
    assert "HttpOnly" in pending and "SameSite=strict" in pending and "Path=/login" in pending
    page = client.get("/login/totp")
    assert page.status_code == 200
    assert '<label for="code">' in page.text and 'autocomplete="one-time-code"' in page.text
    assert 'inputmode="numeric"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no external assets
    assert "default-src 'none'" in page.headers["content-security-policy"]
    done = enter_totp(client, SECRET, clock.now().timestamp())
    assert done.status_code == 303 and done.headers["location"] == "/done"
    assert _session_cookie(done) is not None
    with deployment.db.read() as conn:
        rows = conn.execute(select(oidc_sessions)).all()
    assert len(rows) == 1 and list(rows[0].amr) == ["pwd", "otp"]
    outcome, event = _audit(deployment, "auth.signin")[-1]
    assert outcome == "success" and event["detail"]["amr"] == ["pwd", "otp"]
    # The actor's auth names both factors; the OCSF export marks such events MFA.
    from ostiary.audit.ocsf import to_ocsf

    assert event["actor"]["auth"] == "password+totp"
    assert to_ocsf(event, "test").get("is_mfa") is True
    assert _audit(deployment, "auth.signin.password")[-1][0] == "success"


def test_rfc6238_section_5_2_a_used_code_is_refused(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    user_id = _user(client, deployment)
    _enrol(client, user_id, clock)
    _password(client)
    assert enter_totp(client, SECRET, clock.now().timestamp()).status_code == 303
    client.cookies.clear()
    _password(client)
    again = enter_totp(client, SECRET, clock.now().timestamp())
    assert again.status_code == 401 and "already used" in again.text
    assert _session_cookie(again) is None
    assert _audit(deployment, "auth.signin")[-1][1]["detail"]["reason"] == "otp_replayed"
    # The previous step's code is no good either once a later one was used (section 5.2).
    earlier = enter_totp(client, SECRET, clock.now().timestamp() - 30)
    assert earlier.status_code == 401
    clock.advance(30)
    assert enter_totp(client, SECRET, clock.now().timestamp()).status_code == 303


def test_wrong_codes_count_towards_the_sign_in_throttle(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """Issue 6 point 4: guessing codes is limited like guessing passwords (5 a username and
    address per window); then even the right code is refused, and so is the password."""
    user_id = _user(client, deployment)
    _enrol(client, user_id, clock)
    _password(client)
    right = totp.totp(SECRET, clock.now().timestamp())
    wrong = f"{(int(right) + 500_000) % 1_000_000:06d}"
    for _ in range(5):
        page = client.get("/login/totp")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert csrf
        resp = client.post("/login/totp", data={"csrf_token": csrf.group(1), "code": wrong})
        assert resp.status_code == 401 and 'role="alert"' in resp.text
    blocked = enter_totp(client, SECRET, clock.now().timestamp())
    assert blocked.status_code == 429 and _session_cookie(blocked) is None
    reasons = [e["detail"]["reason"] for o, e in _audit(deployment, "auth.signin")]
    assert reasons == ["wrong_otp"] * 5 + ["throttled"]
    client.cookies.clear()
    assert _password(client).status_code == 429


def test_half_signed_in_is_not_a_session_and_expires(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """The pending state after the password never authorizes (OIDC Core 3.1.2.6:
    prompt=none answers login_required) and lasts five minutes."""
    register(client.app)
    user_id = _user(client, deployment)
    _enrol(client, user_id, clock)
    assert _password(client).headers["location"] == "/login/totp"
    _, challenge = pkce_pair()
    params = authorize_params(challenge)
    silent = client.get("/authorize", params=params | {"prompt": "none"}, follow_redirects=False)
    assert query_of(silent.headers["location"])["error"] == "login_required"
    normal = client.get("/authorize", params=params, follow_redirects=False)
    assert normal.headers["location"].startswith("/login?")
    page = client.get("/login/totp")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    clock.advance(301)
    code = totp.totp(SECRET, clock.now().timestamp())
    late = client.post(
        "/login/totp", data={"csrf_token": csrf.group(1), "code": code}, follow_redirects=False
    )
    assert late.status_code == 303 and late.headers["location"] == "/login?expired=1"
    assert _session_cookie(late) is None
    assert "took too long" in client.get(late.headers["location"]).text
    assert client.get("/login/totp", follow_redirects=False).headers["location"] == "/login"
    with deployment.db.read() as conn:
        assert conn.execute(select(oidc_sessions)).all() == []


def test_forged_pending_state_and_csrf_are_refused(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    user_id = _user(client, deployment)
    _enrol(client, user_id, clock)
    _password(client)
    code = totp.totp(SECRET, clock.now().timestamp())
    page = client.get("/login/totp")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    forged = client.post("/login/totp", data={"csrf_token": "forged", "code": code})
    assert forged.status_code == 403 and _session_cookie(forged) is None
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', forged.text)
    assert csrf
    jar = {c.name: c.value for c in client.cookies.jar}
    client.cookies.clear()
    sealed = jar["ostiary_mfa"]
    flipped = sealed[:-4] + ("AAAA" if sealed[-4:] != "AAAA" else "BBBB")
    client.cookies.set("ostiary_mfa", flipped)
    client.cookies.set("ostiary_csrf", jar["ostiary_csrf"])
    tampered = client.post(
        "/login/totp", data={"csrf_token": csrf.group(1), "code": code}, follow_redirects=False
    )
    assert tampered.status_code == 303 and tampered.headers["location"].startswith("/login")
    assert _session_cookie(tampered) is None


def test_enrolment_page_shows_a_sealed_key_and_needs_a_code(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """Self-service enrolment: the key (base32, otpauth URI) is sealed at rest and only
    turned on by a valid code; CSRF-protected; audited."""
    user_id = _user(client, deployment)
    away = client.get("/account/totp", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"] == "/login?next=%2Faccount%2Ftotp"
    assert _password(client, "/account/totp").headers["location"] == "/account/totp"
    page = client.get("/account/totp")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.text
    key = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', page.text)
    assert key and "otpauth://totp/Ostiary:ada@example.com?secret=" in page.text
    secret = totp.from_base32(key.group(1))
    assert client.get("/account/totp").text.count(key.group(1)) == 1  # same key on reload
    # The QR code is inline SVG of the same otpauth URI (no image request, no external asset).
    uri = re.search(r'<code id="uri">([^<]+)</code>', page.text)
    assert uri and f"secret={key.group(1).replace(' ', '')}&" in html.unescape(uri.group(1))
    assert str(qr_svg(html.unescape(uri.group(1)))) in page.text
    assert 'role="img"' in page.text and "http://" not in page.text
    with deployment.db.read() as conn:
        row = conn.execute(select(user_totp)).one()
    assert row.confirmed_at is None and secret not in row.sealed.encode()
    assert totp.to_base32(secret) not in row.sealed
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    now = clock.now().timestamp()
    forged = client.post("/account/totp", data={"csrf_token": "x", "code": totp.totp(secret, now)})
    assert forged.status_code == 403
    page = client.get("/account/totp")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    bad = client.post("/account/totp", data={"csrf_token": csrf.group(1), "code": "000000"})
    assert bad.status_code == 400 and 'role="alert"' in bad.text
    with deployment.db.read() as conn:
        assert not has_totp(conn, user_id)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', bad.text)
    assert csrf
    ok = client.post(
        "/account/totp", data={"csrf_token": csrf.group(1), "code": totp.totp(secret, now)}
    )
    assert ok.status_code == 200 and "Two-step verification is on" in ok.text
    assert key.group(1) not in ok.text
    with deployment.db.read() as conn:
        assert has_totp(conn, user_id)
    outcome, event = _audit(deployment, "user.totp.enroll")[-1]
    assert outcome == "success" and event["target"]["id"] == user_id
    # The next sign-in asks for the code; the enrolment's step is already used.
    client.cookies.clear()
    assert _password(client).headers["location"] == "/login/totp"
    assert enter_totp(client, secret, now).status_code == 401
    clock.advance(30)
    assert enter_totp(client, secret, clock.now().timestamp()).status_code == 303


def test_require_totp_enrols_users_without_one_at_sign_in(
    deployment: Deployment, clock: FrozenClock
):
    """Setting require_totp: no session on a password alone; a user without a factor sets
    one up on the second page before the session starts."""
    settings = deployment.settings.model_copy(update={"require_totp": True})
    app = create_app(settings, clock=clock)
    with TestClient(app, base_url="http://testserver") as client:
        user_id = _user(client, deployment)
        first = _password(client)
        assert first.headers["location"] == "/login/totp" and _session_cookie(first) is None
        page = client.get("/login/totp")
        key = re.search(r'<code id="secret">([A-Z2-7 ]+)</code>', page.text)
        assert key
        secret = totp.from_base32(key.group(1))
        done = enter_totp(client, secret, clock.now().timestamp())
        assert done.status_code == 303 and _session_cookie(done) is not None
        with deployment.db.read() as conn:
            assert has_totp(conn, user_id)
    app.state.ctx.db.dispose()


@pytest.mark.parametrize("with_totp", [True, False])
def test_id_token_carries_amr_and_acr(
    client: TestClient, deployment: Deployment, clock: FrozenClock, with_totp: bool
):
    """OIDC Core section 2: amr and acr in the ID token reflect how the user signed in."""
    register(client.app, client_type="public")
    user_id = _user(client, deployment)
    if with_totp:
        _enrol(client, user_id, clock)
    verifier, challenge = pkce_pair()
    params = authorize_params(challenge, nonce="n")
    start = client.get("/authorize", params=params, follow_redirects=False)
    back = sign_in(client, start.headers["location"])
    if with_totp:
        back = enter_totp(client, SECRET, clock.now().timestamp())
    assert back.headers["location"].startswith("/authorize?")
    done = client.get(back.headers["location"], follow_redirects=False)
    code = query_of(done.headers["location"])["code"]
    tokens = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "client_id": "rp1",
            "code_verifier": verifier,
        },
    ).json()
    claims = verify_id_token(client, tokens["id_token"], audience="rp1")
    assert claims["amr"] == (["pwd", "otp"] if with_totp else ["pwd"])
    assert claims["acr"] == (MFA if with_totp else PWD)
    assert PASSWORD not in str(claims)


def test_session_exposes_acr_and_mfa_for_other_pages(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """What the admin console checks before key-touching roles: the session's amr says
    password and TOTP (RFC 8176), and has_totp says the user has a confirmed factor."""
    from datetime import UTC, datetime

    from ostiary.store.repositories.sessions import SessionRepository

    user_id = _user(client, deployment)
    plain = _session_cookie(_password(client))
    assert plain is not None
    _enrol(client, user_id, clock)
    client.cookies.clear()
    _password(client)
    strong = _session_cookie(enter_totp(client, SECRET, clock.now().timestamp()))
    assert strong is not None
    now = datetime.now(UTC)
    with deployment.db.read() as conn:
        sessions = SessionRepository(conn)
        weak = sessions.current(plain.split("=", 1)[1].split(";")[0], now)
        mfa = sessions.current(strong.split("=", 1)[1].split(";")[0], now)
        assert has_totp(conn, user_id)
    assert weak is not None and not weak.mfa and weak.acr == PWD
    assert mfa is not None and mfa.mfa and mfa.acr == MFA


def test_another_node_can_finish_the_sign_in(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    """The pending state is sealed by the shared vault, not held in one process: a second
    app on the same database (another node behind a load balancer) accepts the code."""
    user_id = _user(client, deployment)
    _enrol(client, user_id, clock)
    assert _password(client).headers["location"] == "/login/totp"
    other = create_app(deployment.settings, clock=clock)
    with TestClient(other, base_url="http://testserver") as node_b:
        for cookie in client.cookies.jar:
            node_b.cookies.set(cookie.name, cookie.value, path=cookie.path)
        done = enter_totp(node_b, SECRET, clock.now().timestamp())
        assert done.status_code == 303 and _session_cookie(done) is not None
    other.state.ctx.db.dispose()
