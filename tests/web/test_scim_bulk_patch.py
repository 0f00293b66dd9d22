"""Bulk's batched path for runs of PATCH /Users/{id} (RFC 7644 section 3.7): the answers,
the stored users and the audit trail are those of one savepoint per operation (section
3.7: each operation "as if it were a single request"), on SQLite and PostgreSQL. The
same request runs twice over two equal sets of users, once batched and once with the
batch turned off, and the two are compared with ids and userNames made symbolic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from ostiary.store.tables import user_emails, users
from ostiary.store.tables_audit import audit_events
from ostiary.web.scim import bulk
from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, BULK, ENTERPRISE, auth, patch, user_body

NAMES = ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9"]
Ops = Callable[[dict[str, str], str], list[dict[str, Any]]]


@pytest.fixture
def key(deployment: Deployment) -> str:
    return deployment.make_key(ALL_SCOPES).token


def _users(client: TestClient, key: str, prefix: str) -> dict[str, str]:
    ids = {}
    for n in NAMES:
        name = {"givenName": n, "familyName": "Test"}
        body = user_body(f"{prefix}{n}@example.com", active=n != "u7", name=name)
        resp = client.post("/scim/v2/Users", json=body, headers=auth(key))
        assert resp.status_code == 201, resp.text
        ids[n] = resp.json()["id"]
    return ids


def _op(uid: str, *ops: dict[str, Any], version: str | None = None) -> dict[str, Any]:
    out = {"method": "PATCH", "path": f"/Users/{uid}", "data": patch(*ops)}
    return out | ({"version": version} if version else {})


def _replace(path: str | None, value: Any) -> dict[str, Any]:
    return {"op": "replace", "value": value} | ({"path": path} if path else {})


def _mixed(ids: dict[str, str], p: str) -> list[dict[str, Any]]:
    """Success, 404, 412, 409 against a stored user and inside the run, 400 (invalid
    path, unknown manager), a second PATCH of one user, a freed userName taken again, a
    deactivation (one at a time) and a reactivation."""
    return [
        _op(ids["u1"], _replace("name.familyName", "One")),
        _op("no-such-user", _replace("displayName", "x")),
        _op(ids["u2"], _replace("displayName", "Two"), version='W/"5"'),
        _op(ids["u2"], _replace("displayName", "Two"), version='W/"1"'),
        _op(ids["u3"], _replace("userName", f"{p}u1@example.com")),
        _op(ids["u3"], _replace("userName", f"{p}same@example.com")),
        _op(ids["u4"], _replace("userName", f"{p}SAME@example.com")),
        _op(ids["u1"], {"op": "replace", "path": "no.such[", "value": 1}),
        _op(ids["u1"], _replace("title", "Boss"), version='W/"2"'),
        _op(ids["u5"], _replace("emails", [{"value": f"{p}new@mail.example", "primary": True}])),
        _op(ids["u5"], _replace(ENTERPRISE + ":manager", {"value": ids["u1"]})),
        _op(ids["u2"], _replace(ENTERPRISE + ":manager", {"value": "nobody"})),
        _op(ids["u8"], _replace("userName", f"{p}moved@example.com")),
        _op(ids["u9"], _replace("userName", f"{p}u8@example.com")),
        _op(ids["u6"], _replace(None, {"active": False})),
        _op(ids["u7"], _replace("active", True)),
        _op(ids["u6"], _replace("displayName", "Six")),
    ]


def _symbolic(value: Any, ids: dict[str, str], p: str) -> Any:
    raw = orjson.dumps(value).decode()
    for name, uid in ids.items():
        raw = raw.replace(uid, f"<{name}>")
    return orjson.loads(raw.replace(p, "<p>"))


def _outcome(
    client: TestClient, dep: Deployment, key: str, ops: Ops, p: str, **extra: Any
) -> dict[str, Any]:
    ids = _users(client, key, p)
    with dep.db.read() as conn:
        mark = conn.execute(select(audit_events.c.seq).order_by(audit_events.c.seq.desc())).first()
    req = {"schemas": [BULK], "Operations": ops(ids, p), **extra}
    resp = client.post("/scim/v2/Bulk", json=req, headers=auth(key))
    assert resp.status_code == 200, resp.text
    stored = {
        n: client.get(f"/scim/v2/Users/{i}", headers=auth(key)).json() for n, i in ids.items()
    }
    with dep.db.read() as conn:
        since = audit_events.c.seq > (mark[0] if mark else -1)
        trail = [
            (r.action, r.target_id, orjson.loads(r.entry).get("detail"))
            for r in conn.execute(select(audit_events).where(since).order_by(audit_events.c.seq))
        ]
        emails = sorted(
            (r.user_id, r.value_key)
            for r in conn.execute(
                select(user_emails).where(user_emails.c.user_id.in_(list(ids.values())))
            )
        )
    # Through the search copies (PostgreSQL: kept by triggers, with per-domain counts).
    found = {
        f: client.get("/scim/v2/Users", params={"filter": f}, headers=auth(key)).json()[
            "totalResults"
        ]
        for f in (f'userName co "{p}same"', f'emails co "{p}new@mail"', f'userName co "{p}moved"')
    }
    got = {"ops": resp.json()["Operations"], "users": stored, "audit": trail, "emails": emails}
    got["found"] = found
    return _symbolic(got, ids, p)


def _both(client: TestClient, dep: Deployment, key: str, ops: Ops, **extra: Any) -> Any:
    written: list[bool] = []  # per batch: whether it was written (else one at a time)
    real_patch = bulk.patch_users

    def spy(*a: Any) -> Any:
        decided = real_patch(*a)
        written.append(decided is not None)
        return decided

    bulk.patch_users = spy  # type: ignore[assignment]
    try:
        batched = _outcome(client, dep, key, ops, "a-", **extra)
    finally:
        bulk.patch_users = real_patch  # type: ignore[assignment]
    real = bulk.patches_run
    bulk.patches_run = lambda *a: []  # type: ignore[assignment]
    try:
        single = _outcome(client, dep, key, ops, "b-", **extra)
    finally:
        bulk.patches_run = real  # type: ignore[assignment]
    assert batched == single
    return batched | {"written": written}


def test_mixed_run_answers_as_one_at_a_time(client: TestClient, deployment: Deployment, key: str):
    got = _both(client, deployment, key, _mixed)
    statuses = [o["status"] for o in got["ops"]]
    assert statuses == [
        *("200", "404", "412", "200", "409", "200", "409", "400", "200"),
        *("200", "200", "400", "200", "200", "200", "200", "200"),
    ]
    assert got["ops"][8]["version"] == 'W/"3"'  # the second PATCH of u1 saw the first
    assert got["ops"][6]["response"]["scimType"] == "uniqueness"
    assert got["users"]["u3"]["userName"] == "<p>same@example.com"
    assert got["users"]["u9"]["userName"] == "<p>u8@example.com"
    assert got["users"]["u6"]["active"] is False
    actions = [a for a, _, _ in got["audit"]]
    assert "scim.user.deactivate" in actions and "scim.user.reactivate" in actions
    assert ("<u5>", "<p>new@mail.example") in [tuple(e) for e in got["emails"]]
    assert list(got["found"].values()) == [1, 1, 1]
    assert got["written"] == [True, True]  # the deactivation ran alone between them
    assert deployment.audit_verifies()


def test_fail_on_errors_stops_inside_the_run(client: TestClient, deployment: Deployment, key: str):
    """Section 3.7.3: the operations after the failure that reaches failOnErrors get no
    result and write nothing."""
    got = _both(client, deployment, key, _mixed, failOnErrors=3)
    assert [o["status"] for o in got["ops"]] == ["200", "404", "412", "200", "409"]
    assert got["users"]["u3"]["userName"] == "<p>u3@example.com"
    assert got["users"]["u8"]["userName"] == "<p>u8@example.com"
    assert got["written"] == [True]


def test_unexpected_constraint_falls_back(client: TestClient, deployment: Deployment, key: str):
    """A unique index the batch does not check (an operator's, on externalId) fails the
    batched write: the run goes one operation at a time, and the second gets 409."""
    with deployment.db.begin() as conn:
        conn.execute(text("CREATE UNIQUE INDEX ux_test_external_id ON users (external_id)"))

    def ops(ids: dict[str, str], p: str) -> list[dict[str, Any]]:
        return [
            _op(ids["u1"], _replace("externalId", f"{p}same")),
            _op(ids["u2"], _replace("externalId", f"{p}same")),
            _op(ids["u3"], _replace("externalId", f"{p}other")),
        ]

    got = _both(client, deployment, key, ops)
    assert [o["status"] for o in got["ops"]] == ["200", "409", "200"]
    assert got["written"] == [False]
    with deployment.db.read() as conn:
        taken = conn.execute(select(users.c.external_id).where(users.c.external_id.like("a-%")))
        assert sorted(taken.scalars()) == ["a-other", "a-same"]
    assert deployment.audit_verifies()
