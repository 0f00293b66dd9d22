"""Concurrent POST /Users (RFC 7644 section 3.3): creates waiting together share one
transaction with a savepoint each (group commit, ``ostiary.web.scim.batch``).

Each request must still behave as if it had its own transaction: its 201 is sent only once
its user and its audit event are committed, and one create failing (a taken userName,
RFC 7644 section 3.12 ``uniqueness``; a bad manager, ``invalidValue``) writes nothing and
fails no other create. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import event, func, select, text
from starlette.applications import Starlette
from starlette.testclient import TestClient

from ostiary.core.clock import FrozenClock
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.audit import AuditQuery, AuditReader
from ostiary.store.repositories.audit_integrity import Integrity
from ostiary.store.tables import user_emails, users
from ostiary.web.app import create_app
from ostiary.web.scim.batch import GroupCommit
from tests.support.deploy import Deployment

USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def _user(name: str, **extra: Any) -> dict[str, Any]:
    return {"schemas": [USER], "userName": name, "emails": [{"value": name}], **extra}


def _post_all(
    app: Starlette, token: str, bodies: list[dict[str, Any]], tokens: dict[int, str] | None = None
) -> list[httpx.Response]:
    """Every body posted at once, on one event loop (so SQLite creates can group);
    ``tokens`` gives some of them (by index) another bearer token."""

    def headers(n: int) -> dict[str, str]:
        bearer = (tokens or {}).get(n, token)
        return {"Authorization": f"Bearer {bearer}", "Content-Type": "application/scim+json"}

    async def go() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            posts = (
                c.post("/scim/v2/Users", json=b, headers=headers(n)) for n, b in enumerate(bodies)
            )
            return list(await asyncio.gather(*posts))

    return asyncio.run(go())


@pytest.fixture
def app(deployment: Deployment, clock: FrozenClock) -> Any:
    made = create_app(deployment.settings, clock=clock)
    yield made
    made.state.ctx.db.dispose()


def _created_events(dep: Deployment) -> list[str]:
    with dep.db.read() as conn:
        found, _ = AuditReader(conn).search(AuditQuery(action="scim.user.create", limit=1000))
    return [e["target"]["id"] for e in found]


def test_concurrent_creates_are_committed_before_201(app: Starlette, deployment: Deployment):
    commits: list[int] = []
    event.listen(app.state.ctx.db.engine, "commit", lambda _conn: commits.append(1))
    token = deployment.make_key().token
    replies = _post_all(app, token, [_user(f"u{i}@example.com") for i in range(40)])
    assert [r.status_code for r in replies] == [201] * 40
    ids = {r.json()["id"] for r in replies}
    with deployment.db.read() as conn:  # another connection sees every one of them
        stored = set(conn.execute(select(users.c.id)).scalars())
        emails = conn.execute(select(func.count()).select_from(user_emails)).scalar()
    assert ids <= stored and emails == 40
    assert set(_created_events(deployment)) == ids  # each create audited, once
    assert len(commits) < 40  # they did share transactions


def test_taken_user_name_fails_alone(app: Starlette, deployment: Deployment):
    token = deployment.make_key().token
    bodies = [_user(f"u{i}@example.com") for i in range(12)]
    bodies[3] = _user("Same@Example.com")
    bodies[8] = _user("same@example.com")  # userName is caseExact false: the same name
    replies = _post_all(app, token, bodies)
    statuses = [r.status_code for r in replies]
    assert sorted([statuses[3], statuses[8]]) == [201, 409]
    loser = replies[3] if statuses[3] == 409 else replies[8]
    assert loser.json()["scimType"] == "uniqueness"
    assert statuses.count(201) == 11
    with deployment.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar() == 11
        assert conn.execute(select(func.count()).select_from(user_emails)).scalar() == 11
    assert len(_created_events(deployment)) == 11  # no event for the create that failed


def test_refused_key_fails_alone(app: Starlette, deployment: Deployment):
    """Authentication runs per request (on PostgreSQL on the batch's thread, before its
    transaction): a bad key or a key without users:write is refused with its own 401/403
    (RFC 7644 section 3.12) and the creates around it commit."""
    token = deployment.make_key().token
    reader = deployment.make_key(["users:read"]).token
    bodies = [_user(f"u{i}@example.com") for i in range(8)]
    replies = _post_all(app, token, bodies, tokens={2: token[:-4] + "AAAA", 5: reader})
    statuses = [r.status_code for r in replies]
    assert statuses[2] == 401 and statuses[5] == 403
    assert statuses.count(201) == 6
    with deployment.db.read() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar() == 6
    assert len(_created_events(deployment)) == 6


def test_every_create_of_a_batch_queues_its_push(app: Starlette, deployment: Deployment):
    """The enabled provisioning targets are read once per transaction and shared by the
    creates of a batch: each create still queues one push per target, and the one rolled
    back to its savepoint (a taken userName) queues none."""
    from tests.web.test_provisioning_queue import _queued, _target

    a = _target(deployment, "a")
    token = deployment.make_key().token
    bodies = [_user(f"p{i}@example.com") for i in range(10)]
    bodies[4] = _user("P1@example.com")  # the same userName as bodies[1]
    replies = _post_all(app, token, bodies)
    statuses = [r.status_code for r in replies]
    assert statuses.count(201) == 9 and statuses.count(409) == 1
    names = [r.json()["userName"] for r in replies if r.status_code == 201]
    assert _queued(deployment) == {(a, "User", n): 1 for n in names}


def test_bad_manager_fails_alone(app: Starlette, deployment: Deployment):
    token = deployment.make_key().token
    bodies = [_user(f"u{i}@example.com") for i in range(6)]
    bodies[2] = _user("m@example.com", **{ENTERPRISE: {"manager": {"value": "nobody"}}})
    replies = _post_all(app, token, bodies)
    assert [r.status_code for r in replies] == [201, 201, 400, 201, 201, 201]
    assert replies[2].json()["scimType"] == "invalidValue"
    assert len(_created_events(deployment)) == 5


def test_failed_commit_fails_every_create_of_the_batch(tmp_path: Path):
    """The commit itself fails (a deferred foreign key, checked at COMMIT): no operation
    of the batch may report success, and none of their writes remain."""
    db = Database(f"sqlite:///{tmp_path / 'gc.db'}")
    with db.begin() as conn:
        conn.execute(text("CREATE TABLE parent (id INTEGER PRIMARY KEY)"))
        conn.execute(
            text(
                "CREATE TABLE child (id INTEGER PRIMARY KEY, parent INTEGER REFERENCES "
                "parent(id) DEFERRABLE INITIALLY DEFERRED)"
            )
        )
    batcher = GroupCommit(db)

    def insert(child: int, parent: int) -> Any:
        return lambda conn, _: conn.execute(text(f"INSERT INTO child VALUES ({child}, {parent})"))

    async def go() -> list[Any]:
        with db.begin() as conn:
            conn.execute(text("INSERT INTO parent VALUES (1)"))
        ops = [batcher.run(insert(1, 1)), batcher.run(insert(2, 99))]  # 99: no such parent
        return list(await asyncio.gather(*ops, return_exceptions=True))

    results = asyncio.run(go())
    assert all(isinstance(r, Exception) and "FOREIGN KEY" in str(r) for r in results)
    with db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM child")).scalar() == 0
    db.dispose()


def test_audit_log_verifies_after_a_batch(app: Starlette, deployment: Deployment):
    """The events of a batch are chained in order and a create rolled back to its
    savepoint leaves no gap: the whole log verifies (docs/audit.md)."""
    token = deployment.make_key().token
    bodies = [_user(f"u{i}@example.com") for i in range(10)] + [_user("U3@example.com")]
    statuses = sorted(r.status_code for r in _post_all(app, token, bodies))
    assert statuses == [201] * 10 + [409]
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    with deployment.db.read() as conn:
        report = Integrity(conn, vault).verify()
    assert report.ok and report.tree_size >= 10


def test_create_past_the_router_keeps_request_id_metrics_and_errors(
    client: TestClient, deployment: Deployment
):
    """POST /Users skips the route table (``web.scim.fast_create``) but not the request id,
    the metrics under the route template, or the endpoint's SCIM errors (RFC 7644 3.12)."""
    token = deployment.make_key().token
    headers = {"Authorization": f"Bearer {token}", "X-Request-ID": "trace-create"}
    created = client.post("/scim/v2/Users", json=_user("ada@example.com"), headers=headers)
    assert created.status_code == 201 and created.headers["x-request-id"] == "trace-create"
    bad = client.post("/scim/v2/Users", content=b"{", headers=headers)
    assert bad.status_code == 400 and bad.json()["scimType"] == "invalidSyntax"
    anonymous = client.post("/scim/v2/Users", json=_user("bob@example.com"))
    assert anonymous.status_code == 401 and "WWW-Authenticate" in anonymous.headers
    scrape = client.get("/metrics").text
    for status in (201, 400, 401):
        line = (
            f'ostiary_http_requests_total{{method="POST",route="/scim/v2/Users",status="{status}"}}'
        )
        assert line in scrape
