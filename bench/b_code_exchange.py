"""Code-for-token exchanges and the cost of issuing an ID token (issue 6 "Done when").

Command: ``.venv/bin/python -m bench code_exchange``. In process (requests handed to the
ASGI app by Starlette's TestClient, so no sockets), SQLite in a temporary directory, a
public client with PKCE, one signed-in session:

- ``id_token.mint``: claims + one RS256 signature (2048-bit key);
- ``/authorize`` then ``/token`` rounds: codes obtained first, then exchanged one after
  another; reported as exchanges per second and per-exchange latency.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from starlette.testclient import TestClient
from tests.support.deploy import deploy
from tests.support.rp import REDIRECT, pkce_pair, query_of, register, scim_user, sign_in

from ostiary.oidc import id_token
from ostiary.web.app import create_app

ROUNDS = 300


def _mint_cost(app) -> None:  # type: ignore[no-untyped-def]
    key = app.state.oauth.keyring.signer(id_token.ID_ALG)
    args = dict(
        issuer="http://testserver",
        subject="u",
        client_id="c",
        now=1,
        lifetime=600,
        auth_time=1,
        sid="s",
        nonce="n",
        access_token="a.b.c",
        amr=["pwd"],
    )
    for _ in range(50):
        id_token.mint(key=key, **args)  # type: ignore[arg-type]
    samples = []
    for _ in range(1000):
        start = time.perf_counter_ns()
        id_token.mint(key=key, **args)  # type: ignore[arg-type]
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    print(f"id_token.mint: p50 {samples[500] / 1000:.0f} us, p99 {samples[990] / 1000:.0f} us")


def run() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        dep = deploy(f"sqlite:///{Path(tmp) / 'bench.db'}", Path(tmp))
        app = create_app(dep.settings)
        with TestClient(app, base_url="http://testserver") as http:
            register(app, client_type="public")
            scim_user(http, dep.make_key(["users:read", "users:write"]).token)
            verifier, challenge = pkce_pair()
            params = {
                "response_type": "code",
                "client_id": "rp1",
                "redirect_uri": REDIRECT,
                "scope": "openid email",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
            first = http.get("/authorize", params=params, follow_redirects=False)
            sign_in(http, first.headers["location"])
            _mint_cost(app)
            codes = []
            for _ in range(ROUNDS):
                resp = http.get("/authorize", params=params, follow_redirects=False)
                codes.append(query_of(resp.headers["location"])["code"])
            start = time.perf_counter()
            for code in codes:
                resp = http.post(
                    "/token",
                    data={
                        "grant_type": "authorization_code",
                        "code": code,
                        "redirect_uri": REDIRECT,
                        "client_id": "rp1",
                        "code_verifier": verifier,
                    },
                )
                assert resp.status_code == 200, resp.text
            elapsed = time.perf_counter() - start
            print(
                f"code exchange: {ROUNDS / elapsed:.0f}/s sequential, "
                f"{elapsed / ROUNDS * 1000:.2f} ms each over {ROUNDS}"
            )
        dep.db.dispose()
