"""A relying party's side of logout in tests: signing in to a client over the real code
flow, and checking logout tokens the way Back-Channel Logout 1.0 section 2.6 tells an RP
to (signature through the published JWKS with joserfc, typ, iss, aud, iat/exp, events,
no nonce)."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import parse_qs

from joserfc import jws, jwt
from joserfc.jwk import KeySet

from ostiary.core import jose
from tests.support.receiver import Received
from tests.support.rp import REDIRECT, pkce_pair, query_of, sign_in

EVENT = "http://schemas.openid.net/event/backchannel-logout"


def tokens_for(
    http: Any,
    client_id: str,
    username: str = "ada@example.com",
    scope: str = "openid profile offline_access",
) -> dict[str, Any]:
    """Authorize ``client_id`` (a public client), signing in if asked; exchange the code."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": REDIRECT,
        "scope": scope,
        "state": "s",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    resp = http.get("/authorize", params=params, follow_redirects=False)
    if resp.headers["location"].startswith("/login"):
        back = sign_in(http, resp.headers["location"], username=username)
        resp = http.get(back.headers["location"], follow_redirects=False)
    code = query_of(resp.headers["location"])["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": client_id,
        "code_verifier": verifier,
    }
    done = http.post("/token", data=data)
    assert done.status_code == 200, done.text
    return dict(done.json())


def logout_token_of(received: Received) -> str:
    assert received.headers["content-type"] == "application/x-www-form-urlencoded"
    form = parse_qs(received.body.decode("ascii"))
    assert list(form) == ["logout_token"]
    return form["logout_token"][0]


def verify_logout_token(
    http: Any, token: str, *, audience: str, now: float | None = None, alg: str = "RS256"
) -> dict[str, Any]:
    header = jws.extract_compact(token.encode("ascii")).protected
    assert header["typ"] == "logout+jwt" and header["alg"] == alg
    keys = KeySet.import_key_set(http.get("/jwks").json())
    claims = dict(jwt.decode(token, keys, registry=jose.registry([alg])).claims)
    assert claims["iss"] == "http://testserver" and claims["aud"] == audience
    assert claims["events"] == {EVENT: {}} and "nonce" not in claims
    assert claims["sub"] and claims["sid"] and claims["jti"]
    now = time.time() if now is None else now
    assert claims["iat"] <= now + 5 < claims["exp"] + 5 and claims["exp"] > claims["iat"]
    return claims


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)
