"""Deprovisioning latency across two nodes (issue 7 point 5): SCIM request to token dead.

Command: ``.venv/bin/python -m bench.b_deprovision_latency --n 1000`` (or ``python -m
bench deprovision_latency`` with ``OSTIARY_BENCH_N``; default 1,000 users). Needs
PostgreSQL and Redis (``OSTIARY_TEST_PG_URL``, ``OSTIARY_TEST_REDIS_URL``).

Two ``ostiary serve`` processes (A and B) on one fresh PostgreSQL database and one Redis,
both running outbox workers; a webhook receiver subscribed to ``user.deprovisioned``.
N users are created over SCIM and each gets a session and the code flow's access and
refresh tokens (see ``_seed``: in-process, 4 threads, no password step); node B's
introspection must accept every token before the run. Then, one user at a time, the
clock starts as the SCIM PATCH ``active=false`` is sent to node A, and it stops:

(a) when node B's introspection (RFC 7662) first says ``active: false`` for that user's
    access token: a prober thread, authenticated as the relying party, asks in a loop
    from the moment the PATCH leaves;
(b) when the Back-Channel Logout 1.0 POST for that user (its logout token's ``sub``)
    reaches the test relying party's ``backchannel_logout_uri``;
(c) when the ``user.deprovisioned`` webhook for that user reaches its receiver.
"""

from __future__ import annotations

import argparse
import base64
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import orjson
from starlette.testclient import TestClient
from tests.support.rp import REDIRECT, USER, pkce_pair, query_of
from tests.support.services import require_redis
from tests.support.two_nodes import cli_json, two_nodes
from tests.support.webhook import Received, webhook_receiver

from ostiary.core.settings import load_settings
from ostiary.store.repositories.sessions import SessionRepository
from ostiary.web.app import create_app
from ostiary.web.oauth.login import session_cookie_name

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
DEACTIVATE = {
    "schemas": [PATCH],
    "Operations": [{"op": "replace", "path": "active", "value": False}],
}
# The bench deprovisions everyone: lift the burst guard and the per-IP/key limits.
ENV = {
    "OSTIARY_KEY_DEPROVISION_MIN": "100000000",
    "OSTIARY_IP_RATE_PER_SECOND": "100000",
    "OSTIARY_IP_RATE_BURST": "100000",
    "OSTIARY_KEY_RATE_PER_SECOND": "100000",
    "OSTIARY_KEY_RATE_BURST": "100000",
    "OSTIARY_LOG_LEVEL": "WARNING",
}
TIMEOUT = 30.0
SEED_THREADS = 4  # in-process: overlaps the database round trips of the seeding requests


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


@contextmanager
def _in_process(env: dict[str, str]) -> Iterator[tuple[Any, TestClient]]:
    """A third, in-process instance of the same deployment (same database, master key
    and issuer as the nodes; no outbox worker, no Redis: it only seeds)."""
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        settings = load_settings(outbox_worker=False, redis_url=None)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    app = create_app(settings)
    with TestClient(app, base_url=settings.issuer) as http:
        yield app, http
    app.state.ctx.db.dispose()


def _seed(env: dict[str, str], key: str, client: tuple[str, str], n: int) -> list[tuple[str, str]]:
    """N users, each signed in once: ``(user id, access token)``.

    The users are created over SCIM and their tokens come from the real code flow
    (``/authorize`` with a session cookie, then ``/token``: rows and RFC 9068 tokens like
    any sign-in's), handed in-process to a third instance of the deployment. Only the
    password step is skipped: the session rows are made by ``SessionRepository.create``
    (what ``/login`` does after checking the password), so seeding costs no argon2 and
    no HTTP to the nodes under test. Every token is then checked active at node B's
    introspection before anything is deprovisioned."""
    with _in_process(env) as (app, http), ThreadPoolExecutor(SEED_THREADS) as pool:
        auth = {"Authorization": f"Bearer {key}"}

        def create(i: int) -> str:
            body = {"schemas": [USER], "userName": f"user{i}@example.com"}
            made = http.post("/scim/v2/Users", json=body, headers=auth)
            made.raise_for_status()
            return str(made.json()["id"])

        ids = list(pool.map(create, range(n)))
        ctx = app.state.ctx
        now = ctx.clock.now()
        expires = now + timedelta(hours=ctx.settings.session_lifetime_hours)
        with ctx.db.begin() as conn:
            sessions = SessionRepository(conn)
            cookies = [sessions.create(user_id, now, expires, ["pwd"])[0] for user_id in ids]
        name = session_cookie_name(app.state.oauth)

        def sign_in(user_id: str, cookie: str) -> tuple[str, str]:
            # The session cookie as a header: the threads share one client's cookie jar.
            tokens = _code_flow(http, client, {"Cookie": f"{name}={cookie}"})
            return user_id, str(tokens["access_token"])

        return list(pool.map(sign_in, ids, cookies))


def _code_flow(http: TestClient, client: tuple[str, str], cookie: dict[str, str]) -> Any:
    """OIDC Core 3.1 code flow with PKCE for a signed-in (cookie) user: the token response."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client[0],
        "redirect_uri": REDIRECT,
        "scope": "openid offline_access",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    resp = http.get("/authorize", params=params, headers=cookie, follow_redirects=False)
    location = resp.headers["location"]
    if not location.startswith(REDIRECT + "?"):
        raise RuntimeError(f"/authorize did not issue a code: {resp.status_code} {location}")
    form = {
        "grant_type": "authorization_code",
        "code": query_of(location)["code"],
        "redirect_uri": REDIRECT,
        "code_verifier": verifier,
    }
    token = http.post("/token", data=form, auth=client)
    token.raise_for_status()
    return token.json()


def _all_active(base_b: str, client: tuple[str, str], users: list[tuple[str, str]]) -> None:
    """Node B's introspection accepts every seeded token before the run starts."""
    tokens = [token for _, token in users]

    def share(part: list[str]) -> None:
        with httpx.Client(base_url=base_b, timeout=TIMEOUT, auth=client) as http:
            for token in part:
                answer = http.post("/introspect", data={"token": token}).json()
                if answer.get("active") is not True:
                    raise RuntimeError(f"a seeded token is not active at node B: {answer}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(share, [tokens[i::4] for i in range(4)]))


def _dead_at(
    base_b: str, client: tuple[str, str], token: str, started: threading.Event, out: list[float]
) -> None:
    with httpx.Client(base_url=base_b, timeout=TIMEOUT, auth=client) as http:
        started.set()
        deadline = time.perf_counter() + TIMEOUT
        while time.perf_counter() < deadline:
            answer = http.post("/introspect", data={"token": token}).json()
            if answer == {"active": False}:
                out.append(time.perf_counter())
                return


def _webhook_user(body: bytes) -> str:
    return str(orjson.loads(body)["data"]["user_id"])


def _logout_user(body: bytes) -> str:
    """The ``sub`` of a logout token (timing only: tests/deprovisioning verify them)."""
    token = parse_qs(body.decode("ascii"))["logout_token"][0]
    payload = token.split(".")[1]
    return str(orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def _arrived_at(received: Received, user_id: str, seen: int, user_of: Any) -> float:
    deadline = time.perf_counter() + TIMEOUT
    while time.perf_counter() < deadline:
        for at, body in received.timed[seen:]:
            if user_of(body) == user_id:
                return at
        time.sleep(0.002)
    raise RuntimeError(f"nothing for {user_id} within {TIMEOUT} s")


def measure(n: int) -> None:
    redis_url = require_redis()
    with (
        tempfile.TemporaryDirectory() as tmp,
        webhook_receiver() as (hook_url, received),
        webhook_receiver() as (logout_url, logouts),
        two_nodes(Path(tmp), redis_url, ENV) as (env, a, b),
    ):
        cwd = Path(tmp)
        key = cli_json(
            env,
            cwd,
            "keys",
            "create",
            "--name",
            "hr",
            "--scope",
            "users:write",
            "--scope",
            "users:deprovision",
        )["key"]
        rp = cli_json(
            env,
            cwd,
            "clients",
            "create",
            "--name",
            "rp",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "openid",
            "--first-party",
            "--backchannel-logout-uri",
            logout_url,
        )
        client = (rp["client_id"], rp["client_secret"])  # confidential: it may introspect
        cli_json(env, cwd, "webhooks", "create", "--url", hook_url, "--event", "user.deprovisioned")
        t = time.perf_counter()
        users = _seed(env, key, client, n)
        print(f"seeded {n} signed-in users in {time.perf_counter() - t:.1f} s", flush=True)
        t = time.perf_counter()
        _all_active(b, client, users)
        print(f"node B's introspection: all {n} tokens active ({time.perf_counter() - t:.1f} s)")
        dead_ms, hook_ms, scim_ms, after_ms, logout_ms = [], [], [], [], []
        with httpx.Client(base_url=a, timeout=TIMEOUT) as at_a:
            loop_start = time.perf_counter()
            for done, (user_id, token) in enumerate(users):
                if done and done % 100 == 0:
                    print(
                        f"  {done} deprovisioned ({time.perf_counter() - loop_start:.0f} s)",
                        flush=True,
                    )
                out: list[float] = []
                started = threading.Event()
                prober = threading.Thread(target=_dead_at, args=(b, client, token, started, out))
                prober.start()
                started.wait()
                seen, seen_logouts = len(received.timed), len(logouts.timed)
                t0 = time.perf_counter()
                resp = at_a.patch(
                    f"/scim/v2/Users/{user_id}",
                    json=DEACTIVATE,
                    headers={"Authorization": f"Bearer {key}"},
                )
                answered = time.perf_counter()
                scim_ms.append((answered - t0) * 1000)
                resp.raise_for_status()
                prober.join()
                if not out:
                    raise RuntimeError(f"node B still accepts {user_id}'s token")
                dead_ms.append((out[0] - t0) * 1000)
                after_ms.append((out[0] - answered) * 1000)  # < 0: dead before A answered
                at = _arrived_at(logouts, user_id, seen_logouts, _logout_user)
                logout_ms.append((at - t0) * 1000)
                hook_ms.append((_arrived_at(received, user_id, seen, _webhook_user) - t0) * 1000)
        time.sleep(1.0)
    assert len(received.timed) == n, f"{len(received.timed)} webhooks for {n} users"
    for label, samples in (
        ("SCIM PATCH response at node A", scim_ms),
        ("(a) access token inactive at node B's introspection", dead_ms),
        ("    the same, counted from node A's response", after_ms),
        ("(b) back-channel logout POST at the relying party", logout_ms),
        ("(c) user.deprovisioned webhook at the receiver", hook_ms),
    ):
        print(
            f"{label}: p50 {_pct(samples, 0.5):.1f} ms, p99 {_pct(samples, 0.99):.1f} ms, "
            f"max {max(samples):.1f} ms over {n} users"
        )


def run() -> None:
    measure(int(os.environ.get("OSTIARY_BENCH_N", "1000")))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="users to deprovision")
    measure(parser.parse_args().n)
