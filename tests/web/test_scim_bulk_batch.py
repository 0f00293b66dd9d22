"""Bulk's batched path for runs of POST /Users (RFC 7644 section 3.7): the answers, the
stored rows and the audit trail are those of one savepoint per operation (section 3.7:
"each operation ... as if it were a single request"), with section 3.7.2 bulkId
references and section 3.7.3 failOnErrors, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from sqlalchemy import select, text
from starlette.testclient import TestClient

from ostiary.store.tables import user_emails, users
from ostiary.store.tables_audit import audit_events
from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, BULK, ENTERPRISE, GROUP, auth, user_body


def _bulk(*ops: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"schemas": [BULK], "Operations": list(ops), **extra}


def _post(bulk_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"method": "POST", "path": "/Users", "bulkId": bulk_id, "data": data}


def _user(bulk_id: str, name: str, **extra: Any) -> dict[str, Any]:
    return _post(bulk_id, user_body(name, **extra))


def _managed(bulk_id: str, name: str, manager: str) -> dict[str, Any]:
    return _post(bulk_id, user_body(name) | {ENTERPRISE: {"manager": {"value": manager}}})


def _send(client: TestClient, key: str, req: dict[str, Any]) -> list[dict[str, Any]]:
    resp = client.post("/scim/v2/Bulk", json=req, headers=auth(key))
    assert resp.status_code == 200, resp.text
    return list(resp.json()["Operations"])


def _stored(dep: Deployment) -> dict[str, str]:
    with dep.db.read() as conn:
        return {r.user_name: r.id for r in conn.execute(select(users.c.user_name, users.c.id))}


def _created_events(dep: Deployment) -> list[str]:
    """Targets of the scim.user.create events, in audit order."""
    with dep.db.read() as conn:
        rows = conn.execute(
            select(audit_events.c.target_id)
            .where(audit_events.c.action == "scim.user.create")
            .order_by(audit_events.c.seq)
        )
        return list(rows.scalars())


@pytest.fixture
def key(deployment: Deployment) -> str:
    return deployment.make_key(ALL_SCOPES).token


def test_mixed_success_and_failure_in_one_batch(
    client: TestClient, deployment: Deployment, key: str
):
    """Each failing create fails alone (409 uniqueness against a stored user, 400 for an
    invalid body and for an unknown manager); the others are written with their email
    rows and audited in request order; nothing of the failures is left behind."""
    boss = client.post("/scim/v2/Users", json=user_body("boss@example.com"), headers=auth(key))
    boss_id = boss.json()["id"]
    no_name = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "title": "x"}
    ops = _send(
        client,
        key,
        _bulk(
            _user("a", "a@example.com"),
            _user("taken", "BOSS@example.com"),
            _post("invalid", no_name),
            _user("b", "b@example.com", emails=[{"value": "B@Mail.example", "primary": True}]),
            _managed("ghost", "g@example.com", "no-such-user"),
            _managed("c", "c@example.com", boss_id),
        ),
    )
    assert [o["status"] for o in ops] == ["201", "409", "400", "201", "400", "201"]
    assert [o["bulkId"] for o in ops] == ["a", "taken", "invalid", "b", "ghost", "c"]
    assert ops[1]["response"]["scimType"] == "uniqueness"
    assert ops[4]["response"]["scimType"] == "invalidValue"
    assert all("location" not in o for o in (ops[1], ops[2], ops[4]))
    stored = _stored(deployment)
    assert set(stored) == {"boss@example.com", "a@example.com", "b@example.com", "c@example.com"}
    for o, name in [(ops[0], "a"), (ops[3], "b"), (ops[5], "c")]:
        assert o["location"].endswith(f"/Users/{stored[f'{name}@example.com']}")
        assert o["version"] == 'W/"1"'
    c = client.get(ops[5]["location"], headers=auth(key)).json()
    assert c[ENTERPRISE]["manager"]["value"] == boss_id
    with deployment.db.read() as conn:
        emails = conn.execute(select(user_emails.c.user_id, user_emails.c.value_key)).all()
    assert {tuple(r) for r in emails} == {
        (stored["boss@example.com"], "boss@example.com"),
        (stored["a@example.com"], "a@example.com"),
        (stored["b@example.com"], "b@mail.example"),
        (stored["c@example.com"], "c@example.com"),
    }
    found = client.get(
        "/scim/v2/Users", params={"filter": 'emails eq "b@mail.example"'}, headers=auth(key)
    ).json()
    assert [r["userName"] for r in found["Resources"]] == ["b@example.com"]
    ids = [stored[n] for n in ("boss@example.com", "a@example.com", "b@example.com")]
    assert _created_events(deployment) == [*ids, stored["c@example.com"]]
    assert deployment.audit_verifies()


def test_duplicates_inside_one_batch(client: TestClient, deployment: Deployment, key: str):
    """userName is unique case-insensitively (RFC 7643 section 4.1.1): the first of two
    equal names in one batch wins, the second fails as it would one at a time."""
    ops = _send(
        client,
        key,
        _bulk(
            _user("first", "Dup@example.com"),
            _user("x", "x@example.com"),
            _user("second", "dup@EXAMPLE.com"),
            _user("third", "DUP@example.com"),
        ),
    )
    assert [o["status"] for o in ops] == ["201", "201", "409", "409"]
    assert {o["response"]["scimType"] for o in ops[2:]} == {"uniqueness"}
    assert set(_stored(deployment)) == {"Dup@example.com", "x@example.com"}
    assert len(_created_events(deployment)) == 2


def test_bulk_id_references_across_batches(client: TestClient, key: str):
    """Section 3.7.2: a create naming a user of the same run (forward or backward) waits
    for it; a group refers to users of several runs; a cycle fails with 409."""
    ops = _send(
        client,
        key,
        _bulk(
            _managed("early", "early@example.com", "bulkId:boss"),  # forward reference
            _user("boss", "boss@example.com"),
            _user("peer", "peer@example.com"),
            _managed("late", "late@example.com", "bulkId:peer"),
            {
                "method": "POST",
                "path": "/Groups",
                "bulkId": "team",
                "data": {
                    "schemas": [GROUP],
                    "displayName": "Team",
                    "members": [{"value": f"bulkId:{n}"} for n in ("early", "boss", "late")],
                },
            },
            _managed("loop1", "loop1@example.com", "bulkId:loop2"),
            _managed("loop2", "loop2@example.com", "bulkId:loop1"),
            _user("after", "after@example.com"),
        ),
    )
    status = {o["bulkId"]: o["status"] for o in ops}
    assert status == {
        "early": "201",
        "boss": "201",
        "peer": "201",
        "late": "201",
        "team": "201",
        "loop1": "409",
        "loop2": "409",
        "after": "201",
    }
    ids = {o["bulkId"]: o["location"].rsplit("/", 1)[1] for o in ops if o["status"] == "201"}
    early = client.get(f"/scim/v2/Users/{ids['early']}", headers=auth(key)).json()
    late = client.get(f"/scim/v2/Users/{ids['late']}", headers=auth(key)).json()
    assert early[ENTERPRISE]["manager"]["value"] == ids["boss"]
    assert late[ENTERPRISE]["manager"]["value"] == ids["peer"]
    team = client.get(f"/scim/v2/Groups/{ids['team']}", headers=auth(key)).json()
    assert sorted(m["value"] for m in team["members"]) == sorted(
        [ids["early"], ids["boss"], ids["late"]]
    )


def test_fail_on_errors_inside_a_batch(client: TestClient, deployment: Deployment, key: str):
    """Section 3.7.3: processing stops at the failure that reaches failOnErrors; the
    operations after it get no result and write nothing."""
    client.post("/scim/v2/Users", json=user_body("t1@example.com"), headers=auth(key))
    client.post("/scim/v2/Users", json=user_body("t2@example.com"), headers=auth(key))
    ops = _send(
        client,
        key,
        _bulk(
            _user("ok1", "ok1@example.com"),
            _user("bad1", "t1@example.com"),
            _user("ok2", "ok2@example.com"),
            _user("bad2", "t2@example.com"),
            _user("never", "never@example.com"),
            failOnErrors=2,
        ),
    )
    assert [(o["bulkId"], o["status"]) for o in ops] == [
        ("ok1", "201"),
        ("bad1", "409"),
        ("ok2", "201"),
        ("bad2", "409"),
    ]
    assert "never@example.com" not in _stored(deployment)


def test_unexpected_constraint_falls_back_to_one_at_a_time(
    client: TestClient, deployment: Deployment, key: str
):
    """A constraint the batch does not check beforehand (here a unique index on
    externalId an operator added) fails the multi-row insert: the batch is rolled back
    and its operations run one at a time, each in its own savepoint."""
    with deployment.db.begin() as conn:
        conn.execute(text("CREATE UNIQUE INDEX ux_test_external_id ON users (external_id)"))
    ops = _send(
        client,
        key,
        _bulk(
            _user("a", "a@example.com", externalId="same"),
            _user("b", "b@example.com", externalId="same"),
            _user("c", "c@example.com", externalId="other"),
        ),
    )
    assert [o["status"] for o in ops] == ["201", "409", "201"]
    assert set(_stored(deployment)) == {"a@example.com", "c@example.com"}
    assert len(_created_events(deployment)) == 2
    with deployment.db.read() as conn:
        summary = conn.execute(
            select(audit_events.c.entry).where(audit_events.c.action == "scim.bulk")
        ).scalar_one()
    assert orjson.loads(summary)["detail"] == {"operations": 3, "failed": 1}
    assert deployment.audit_verifies()
