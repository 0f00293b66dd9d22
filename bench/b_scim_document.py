"""Server-side cost of a User document: validate a POST body, build the record, render it.

Command: ``.venv/bin/python -m bench scim_document``. Compares Ostiary's schema-table path
(``ostiary.scim.users``) with validating and dumping the same body through scim2-models'
``User[EnterpriseUser]``, the reason the hot path does not use the models per request.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from scim2_models import EnterpriseUser, User

from ostiary.scim.registry import build_registry
from ostiary.scim.users import build_user, canonical_body, render_user

ROUNDS = 20_000
BODY: dict[str, Any] = {
    "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
    "userName": "ada@example.com",
    "externalId": "e-1",
    "active": True,
    "displayName": "Ada Lovelace",
    "name": {"givenName": "Ada", "familyName": "Lovelace"},
    "emails": [{"value": "ada@example.com", "type": "work", "primary": True}],
}


def _measure(label: str, fn: Callable[[], object]) -> None:
    for _ in range(500):
        fn()
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - start)
    samples.sort()
    p50, p99 = samples[len(samples) // 2], samples[int(len(samples) * 0.99)]
    print(f"{label}: p50 {p50 / 1000:.1f} us, p99 {p99 / 1000:.1f} us over {ROUNDS} calls")


def run() -> None:
    kind = build_registry().user
    now = datetime.now(UTC)

    def ours() -> object:
        doc = canonical_body(kind, BODY)
        user = build_user(doc, user_id="u", hash_password=str, now=now)
        return render_user(user, "http://127.0.0.1:8000/scim/v2")

    model = User[EnterpriseUser]

    def models() -> object:
        return model.model_validate(BODY).model_dump()

    _measure("ostiary schema table", ours)
    _measure("scim2-models validate+dump", models)
