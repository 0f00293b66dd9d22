"""Key pages need the second factor (issue 9 point 1, "roles that touch keys require
TOTP"), end to end with the TOTP sign-in (RFC 6238): password alone is refused on key
pages; password plus code gives a session whose amr holds "otp" and opens them."""

from __future__ import annotations

from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store.repositories.totp import TotpRepository
from tests.support.deploy import Deployment
from tests.support.rp import enter_totp, sign_in
from tests.web.console_support import actions, make_user

SECRET = b"12345678901234567890"
TO_KEYS = "/login?next=/console/signin%3Fnext%3D/console/keys"


def _enrol(client: TestClient, user_id: str, clock: FrozenClock) -> None:
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    with ctx.db.begin() as conn:
        TotpRepository(conn, ctx.vault).put(user_id, SECRET, clock.now(), confirmed=True)


def test_point1_key_manager_with_totp_reaches_key_pages(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    manager = make_user(deployment, "keys@example.com", "key-manager", clock=clock)
    _enrol(client, manager, clock)
    first = sign_in(client, TO_KEYS, username="keys@example.com")
    assert first.status_code == 303 and first.headers["location"] == "/login/totp"
    # The password alone is no session: the console still sends the browser to sign in.
    assert client.get("/console/keys", follow_redirects=False).status_code == 303
    done = enter_totp(client, SECRET, clock.now().timestamp())
    assert done.status_code == 303
    assert done.headers["location"] == "/console/signin?next=/console/keys"
    console = client.get(done.headers["location"], follow_redirects=False)
    assert console.headers["location"] == "/console/keys"
    page = client.get("/console/keys")
    assert page.status_code == 200 and "Create a key" in page.text
    signin = [e for e in actions(deployment, "console.signin") if e[2] == manager]
    assert signin == [("console.signin", "success", manager)]


def test_point1_password_only_owner_is_told_how_to_get_totp(
    client: TestClient, deployment: Deployment, clock: FrozenClock
):
    make_user(deployment, "root@example.com", "owner", clock=clock)
    first = sign_in(client, TO_KEYS, username="root@example.com")
    signed = client.get(first.headers["location"], follow_redirects=False)
    assert signed.headers["location"] == "/console/keys"
    refused = client.get("/console/keys")
    assert refused.status_code == 403 and "/account/totp" in refused.text
