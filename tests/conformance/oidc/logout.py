"""Logout pieces of the conformance harness: the user agent at the end_session_endpoint and
the checks RP-Initiated Logout 1.0 and Back-Channel Logout 1.0 ask of an RP."""

from __future__ import annotations

import html
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact

from tests.conformance.oidc.harness import OP, Browser, Client, ErrorPage, RelyingParty, flow
from tests.support.receiver import Received
from tests.support.server import free_port

EVENT = "http://schemas.openid.net/event/backchannel-logout"
NEEDS_UI = {
    "login_required",
    "interaction_required",
    "consent_required",
    "account_selection_required",
}


@dataclass
class Outcome:
    """Where the end_session_endpoint left the user agent."""

    redirect: str | None  # the post_logout_redirect_uri reached, with its query
    page: str | None  # the "signed out" page
    confirmations: int


def end_session(browser: Browser, endpoint: str, params: dict[str, str], stop_at: str) -> Outcome:
    """Open the end_session_endpoint with ``params``; confirm sign-out when asked (as a
    user who wants out would); stop at ``stop_at`` or the signed-out page. An error page
    raises ErrorPage."""
    resp = browser.http.get(endpoint + ("?" + urlencode(params) if params else ""))
    confirmations = 0
    for _ in range(6):
        if resp.status_code in (302, 303):
            location = resp.headers["location"]
            if location.startswith(stop_at):
                return Outcome(location, None, confirmations)
            resp = browser.http.get(location)
        elif resp.status_code == 200 and 'name="csrf_token"' in resp.text:
            confirmations += 1
            action = re.search(r'<form method="post" action="([^"]+)"', resp.text)
            fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', resp.text))
            assert action, resp.text
            form = {k: html.unescape(v) for k, v in fields.items()}
            resp = browser.http.post(html.unescape(action.group(1)), data=form)
        elif resp.status_code == 200:
            return Outcome(None, resp.text, confirmations)
        else:
            raise ErrorPage(resp.status_code, resp.text)
    raise AssertionError("the end_session_endpoint never settled")


@dataclass
class SignedIn:
    rp: RelyingParty
    post_logout: str
    token: dict[str, Any]
    claims: dict[str, Any]


def signed_in(op: OP, browser: Browser, **metadata: Any) -> SignedIn:
    """A client registered dynamically with a post_logout_redirect_uri (as the suite's
    dynamic-client variant does), and the user signed in to it."""
    redirect = f"http://127.0.0.1:{free_port()}/cb"
    post_logout = f"http://127.0.0.1:{free_port()}/post_logout_redirect"
    reg = op.register(
        client_name="logout",
        redirect_uris=[redirect],
        post_logout_redirect_uris=[post_logout],
        scope="openid",
        **metadata,
    )
    assert reg.status_code == 201, reg.text
    doc = reg.json()
    rp = RelyingParty(op, Client(doc["client_id"], doc["client_secret"], redirect))
    token, claims = flow(rp, browser)
    return SignedIn(rp, post_logout, token, claims)


def long_state() -> str:
    return secrets.token_urlsafe(96)[:128]  # the module uses a 128-character state


def logged_out(rp: RelyingParty, browser: Browser) -> None:
    """The end of every logout module: prompt=none must now fail (OIDC Core 3.1.2.6)."""
    req = rp.begin(prompt="none")
    callback = browser.go(req.url, rp.client.redirect_uri)
    got = dict((k, v[0]) for k, v in parse_qs(callback.split("?", 1)[1]).items())
    assert got["state"] == req.state and got.get("error") in NEEDS_UI, got


def alg_none(id_token: str) -> str:
    """ChangeIdTokenToAlgNone: the same claims under an unsigned header."""
    import base64

    header = base64.urlsafe_b64encode(b'{"alg": "none"}').rstrip(b"=").decode()
    return f"{header}.{id_token.split('.')[1]}."


def logout_token(op: OP, received: Received, client_id: str) -> dict[str, Any]:
    """Back-Channel Logout 1.0 sections 2.4-2.6 as the suite checks them: a form POST with
    only ``logout_token``, signed by a key the JWKS publishes, typed logout+jwt, with
    iss, aud, iat, jti, exactly the back-channel event, sub or sid, and no nonce."""
    assert received.headers["content-type"].startswith("application/x-www-form-urlencoded")
    form = parse_qs(received.body.decode("ascii"))
    assert list(form) == ["logout_token"]
    raw = form["logout_token"][0]
    header = extract_compact(raw.encode()).protected
    assert header.get("typ") == "logout+jwt"
    keys = KeySet.import_key_set(httpx.get(op.meta["jwks_uri"]).json())
    claims = dict(jwt.decode(raw, keys, algorithms=[header["alg"]]).claims)
    aud = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    assert claims["iss"] == op.meta["issuer"] and client_id in aud
    assert claims["iat"] < time.time() + 300 and claims["jti"]
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims and ("sub" in claims or "sid" in claims)
    return claims
