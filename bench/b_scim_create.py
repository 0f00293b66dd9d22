"""POST /Users over HTTP, no password in the body (target: 1,000 creates/s on 2 cores).

Command: ``OSTIARY_BENCH_USERS=1000000 .venv/bin/python -m bench scim_create``.
Load generator (this process, 32 keep-alive connections) and ``ostiary serve`` (granian,
2 workers) share the machine. Each request creates a distinct user (with an email row
and an audit event) in the loaded directory.
"""

from __future__ import annotations

import json
import uuid

from bench import scim_seed as s

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


def run() -> None:
    for engine in s.ENGINES:
        dep = s.deployment(engine)
        token = dep.make_key().token
        tag = uuid.uuid4().hex[:8]
        requests = []
        for i in range(60_000):
            body = json.dumps(
                {
                    "schemas": [USER],
                    "userName": f"new-{tag}-{i}@example.com",
                    "name": {"givenName": "New", "familyName": f"User{i}"},
                    "emails": [{"value": f"new-{tag}-{i}@example.com", "type": "work"}],
                }
            ).encode()
            requests.append(s.http_request("POST", "/scim/v2/Users", token, body))
        with s.served(dep) as addr:
            r = s.hammer(addr, requests, seconds=10, connections=32)
        created = r["statuses"].get(201, 0)
        print(
            f"{engine} POST /Users: {created / (r['n'] / r['rps']):,.0f} creates/s, "
            f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms, statuses {r['statuses']}"
        )
        dep.db.dispose()
