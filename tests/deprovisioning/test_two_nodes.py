"""Two ``ostiary serve`` processes on one PostgreSQL and one Redis (issue 7 point 3).

A user signed in through node A holds access and refresh tokens and owns a provisioning
key. A SCIM source deactivates them through node A; within one second node B refuses the
access token at UserInfo (OIDC Core 5.3, RFC 6750 3.1), SCIM /Me (RFC 7644 3.11) and
introspection (RFC 7662 2.2, ``active: false``), the refresh token (RFC 6749 5.2
``invalid_grant``) and the owned key and its access token at SCIM. Both nodes run
outbox workers; each webhook event is delivered once across them (row leases with SKIP
LOCKED), not once per node.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.support.oauth import basic
from tests.support.rp import PASSWORD, REDIRECT, USER, code_flow_tokens
from tests.support.services import require_redis
from tests.support.two_nodes import cli_json as _cli_json
from tests.support.two_nodes import two_nodes
from tests.support.webhook import webhook_receiver

PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
INACTIVE = {"active": False}
USERS = 3  # deprovisioned one after another: 3 webhook events to deliver once each


def _within(seconds: float, check: Callable[[], bool]) -> float:
    """How long ``check`` took to hold; fails if it never did within ``seconds``."""
    start = time.monotonic()
    while True:
        if check():
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            pytest.fail(f"still accepted {seconds} s after deprovisioning")
        time.sleep(0.02)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.postgres
@pytest.mark.redis
def test_deprovisioned_on_node_a_is_refused_by_node_b_within_one_second(tmp_path: Path):
    redis_url = require_redis()
    with webhook_receiver() as (hook_url, received), two_nodes(tmp_path, redis_url) as nodes:
        env, a, b = nodes
        hr = _cli_json(
            env,
            tmp_path,
            "keys",
            "create",
            "--name",
            "hr",
            "--scope",
            "users:read",
            "--scope",
            "users:write",
            "--scope",
            "users:deprovision",
        )["key"]
        rp = _cli_json(
            env,
            tmp_path,
            "clients",
            "create",
            "--name",
            "rp",
            "--redirect-uri",
            REDIRECT,
            "--scope",
            "openid",
            "--scope",
            "offline_access",
            "--first-party",
        )
        client = (rp["client_id"], rp["client_secret"])  # confidential: it may introspect
        _cli_json(
            env, tmp_path, "webhooks", "create", "--url", hook_url, "--event", "user.deprovisioned"
        )
        ids = []
        with httpx.Client(base_url=a, timeout=10) as at_a:
            for n in range(USERS):
                body = {"schemas": [USER], "userName": f"u{n}@example.com", "password": PASSWORD}
                made = at_a.post("/scim/v2/Users", json=body, headers=_bearer(hr))
                assert made.status_code == 201, made.text
                ids.append(made.json()["id"])
            tokens = code_flow_tokens(
                at_a, client_id=client[0], secret=client[1], username="u0@example.com"
            )
        made_key = _cli_json(
            env,
            tmp_path,
            "keys",
            "create",
            "--name",
            "u0's",
            "--scope",
            "users:read",
            "--owner",
            "u0@example.com",
        )
        owned = made_key["key"]
        with httpx.Client(base_url=b, timeout=10) as at_b, httpx.Client(base_url=a) as at_a:
            key_token = at_a.post(
                "/token",
                data={"grant_type": "client_credentials"},
                headers=basic(made_key["id"], owned),
            ).json()["access_token"]
            access = _bearer(tokens["access_token"])
            # Node B accepts everything before (and caches the owned key's record).
            assert at_b.get("/userinfo", headers=access).status_code == 200
            assert at_b.get("/scim/v2/Me", headers=access).status_code == 200
            seen = at_b.post("/introspect", data={"token": tokens["access_token"]}, auth=client)
            assert seen.json()["active"] is True, seen.text
            assert at_b.get("/scim/v2/Users", headers=_bearer(owned)).status_code == 200
            assert at_b.get("/scim/v2/Users", headers=_bearer(key_token)).status_code == 200

            for user_id in ids:
                resp = at_a.patch(
                    f"/scim/v2/Users/{user_id}",
                    json={
                        "schemas": [PATCH],
                        "Operations": [{"op": "replace", "path": "active", "value": False}],
                    },
                    headers=_bearer(hr),
                )
                assert resp.status_code == 200, resp.text
                if user_id == ids[0]:
                    _refused_everywhere_on_b(at_b, access, tokens, client, owned, key_token)

            deadline = time.monotonic() + 20
            while len(received.posts) < USERS and time.monotonic() < deadline:
                time.sleep(0.1)
            time.sleep(1.5)  # room for a duplicate to show up, if either node sent one twice
        deliveries = [h["webhook-id"] for h, _ in received.posts]
        assert len(deliveries) == USERS and len(set(deliveries)) == USERS, deliveries
        assert sorted(d["data"]["user_id"] for d in received.docs()) == sorted(ids)


def _refused_everywhere_on_b(
    at_b: httpx.Client,
    access: dict[str, str],
    tokens: dict[str, str],
    client: tuple[str, str],
    owned: str,
    key_token: str,
) -> None:
    def refused(path: str, headers: dict[str, str]) -> Callable[[], bool]:
        return lambda: at_b.get(path, headers=headers).status_code == 401

    _within(1.0, refused("/userinfo", access))
    _within(1.0, refused("/scim/v2/Me", access))
    me = at_b.get("/scim/v2/Me", headers=access)
    assert me.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
    assert "invalid_token" in me.headers["www-authenticate"]
    _within(1.0, refused("/scim/v2/Users", _bearer(owned)))
    # RFC 7662 section 2.2: a revoked token is simply not active.
    form = {"token": tokens["access_token"]}
    _within(1.0, lambda: at_b.post("/introspect", data=form, auth=client).json() == INACTIVE)
    _within(1.0, refused("/scim/v2/Users", _bearer(key_token)))
    refresh = at_b.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=client,
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "invalid_grant"
