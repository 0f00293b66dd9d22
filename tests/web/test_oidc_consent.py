"""The consent page (issue 6 points 3 and 4; OIDC Core 3.1.2.4, 3.1.2.6): asked before
the first code for a client that is not first-party, remembered per scope set, asked
again on prompt=consent or for more scopes; prompt=none without consent is
consent_required; Deny is access_denied; the form is CSRF-protected."""

from __future__ import annotations

import html
import re

import orjson
from sqlalchemy import select
from starlette.testclient import TestClient

from ostiary.store.tables_audit import audit_events
from tests.support.deploy import Deployment
from tests.support.rp import REDIRECT, pkce_pair, query_of, register, scim_user, sign_in


def _authorize(client: TestClient, challenge: str, **extra: str):
    params = {
        "response_type": "code",
        "client_id": "rp1",
        "redirect_uri": REDIRECT,
        "scope": "openid email",
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **extra,
    }
    return client.get("/authorize", params=params, follow_redirects=False)


def _form(page_html: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page_html)
    return {k: html.unescape(v) for k, v in fields}


def _signed_in(client: TestClient, dep: Deployment) -> str:
    register(client.app, client_type="public", first_party=False)
    scim_user(client, dep.make_key(["users:read", "users:write"]).token)
    _, challenge = pkce_pair()
    first = _authorize(client, challenge)
    back = sign_in(client, first.headers["location"])
    assert back.status_code == 303
    return challenge


def test_consent_is_asked_then_remembered(client: TestClient, deployment: Deployment):
    challenge = _signed_in(client, deployment)
    page = _authorize(client, challenge)
    assert page.status_code == 200 and "Your email address" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    form = _form(page.text)
    allowed = client.post("/authorize", data={**form, "decision": "allow"}, follow_redirects=False)
    assert allowed.status_code == 303 and "code" in query_of(allowed.headers["location"])
    again = _authorize(client, challenge)  # remembered: straight to a code
    assert again.status_code == 303 and "code" in query_of(again.headers["location"])
    silent = _authorize(client, challenge, prompt="none")
    assert "code" in query_of(silent.headers["location"])
    assert _authorize(client, challenge, prompt="consent").status_code == 200
    more = _authorize(client, challenge, scope="openid email groups")
    assert more.status_code == 200  # more scopes than approved: asked again
    with deployment.db.read() as conn:
        events = [
            orjson.loads(r.entry)
            for r in conn.execute(
                select(audit_events.c.entry).where(audit_events.c.action == "oauth.code.issue")
            )
        ]
    assert any(e.get("detail", {}).get("consent") == "granted" for e in events)


def test_prompt_none_without_consent_and_deny(client: TestClient, deployment: Deployment):
    challenge = _signed_in(client, deployment)
    none = _authorize(client, challenge, prompt="none")
    assert query_of(none.headers["location"])["error"] == "consent_required"
    form = _form(_authorize(client, challenge).text)
    denied = client.post("/authorize", data={**form, "decision": "deny"}, follow_redirects=False)
    q = query_of(denied.headers["location"])
    assert q["error"] == "access_denied" and q["state"] == "s"


def test_consent_form_needs_its_csrf_token(client: TestClient, deployment: Deployment):
    challenge = _signed_in(client, deployment)
    form = _form(_authorize(client, challenge).text)
    forged = client.post(
        "/authorize", data={**form, "csrf_token": "x", "decision": "allow"}, follow_redirects=False
    )
    assert forged.status_code == 200  # shown the page again, no code
    assert "location" not in forged.headers
