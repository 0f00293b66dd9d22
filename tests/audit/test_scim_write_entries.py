"""SCIM writes append their events from the fields, with no event object (issue 5 point 6,
docs/performance.md session 12): every stored entry is byte for byte the reference
``canonical(chain(event_document(event, id, time), position, prev))`` of the event those
fields make, for creates, updates (with their ``before`` and ``changes``), group
membership changes (with their ``detail``), deletes and failures, on both engines; and the
fields path prepares what the event path prepares."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from starlette.testclient import TestClient

from ostiary.audit.entries import canonical, chain, event_document
from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.audit.merkle import leaf_hash
from ostiary.store.repositories.audit import prepare, prepare_event
from tests.support.deploy import Deployment
from tests.web.scim_support import ALL_SCOPES, GROUP, PATCH, auth, user_body


def _rows(dep: Deployment) -> list[tuple[int, bytes]]:
    with dep.db.read() as conn:
        rows = conn.execute(text("SELECT seq, entry FROM audit_events ORDER BY seq"))
        return [(r[0], r[1].encode() if isinstance(r[1], str) else bytes(r[1])) for r in rows]


def _event_of(doc: dict[str, Any]) -> AuditEvent:
    """The event whose fields the stored document records (the reverse of the build)."""
    return AuditEvent(
        action=doc["action"],
        actor=Actor(**doc["actor"]),
        outcome=doc["outcome"],
        target_type=doc["target"]["type"],
        target_id=doc["target"]["id"],
        request=RequestInfo(**doc["request"]),
        before=doc.get("before"),
        after=doc.get("after"),
        detail=doc.get("detail"),
    )


def test_every_scim_write_entry_is_the_reference_bytes(
    deployment: Deployment, client: TestClient
) -> None:
    key = deployment.make_key(ALL_SCOPES).token
    headers = auth(key, **{"User-Agent": 'agent "quoted" \\ x'})
    ada = client.post("/scim/v2/Users", json=user_body("ada@example.com"), headers=headers)
    bob = client.post("/scim/v2/Users", json=user_body("bob@example.com"), headers=headers)
    assert ada.status_code == bob.status_code == 201
    uid = ada.json()["id"]
    patch = {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "title", "value": "T"}]}
    assert client.patch(f"/scim/v2/Users/{uid}", json=patch, headers=headers).status_code == 200
    group = {"schemas": [GROUP], "displayName": "g", "members": [{"value": uid}]}
    gid = client.post("/scim/v2/Groups", json=group, headers=headers).json()["id"]
    add = {"op": "add", "path": "members", "value": [{"value": bob.json()["id"]}]}
    resp = client.patch(
        f"/scim/v2/Groups/{gid}", json={"schemas": [PATCH], "Operations": [add]}, headers=headers
    )
    assert resp.status_code in (200, 204)
    assert client.delete(f"/scim/v2/Users/{uid}", headers=headers).status_code == 204
    rows = _rows(deployment)
    actions = [orjson.loads(entry)["action"] for _, entry in rows]
    assert {"scim.user.create", "scim.user.update", "scim.user.delete"} <= set(actions)
    assert any(a.startswith("scim.group.") for a in actions)
    prev = None
    for seq, entry in rows:
        doc = orjson.loads(entry)
        at = datetime.fromisoformat(doc["time"])
        reference = event_document(_event_of(doc), doc["id"], at)
        assert entry == canonical(chain(reference, seq, prev)), doc["action"]
        prev = leaf_hash(entry)
    assert deployment.audit_verifies()


DOC = st.dictionaries(
    st.sampled_from(["userName", "title", "token", "name", "x"]),
    st.none() | st.integers(0, 3) | st.text(max_size=4),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(
    before=st.none() | DOC,
    after=st.none() | DOC,
    detail=st.none() | DOC,
    outcome=st.sampled_from(["success", "failure"]),
    pg=st.booleans(),
)
def test_the_fields_path_prepares_what_the_event_path_prepares(
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    detail: dict[str, Any] | None,
    outcome: str,
    pg: bool,
) -> None:
    """Same columns (but the fresh id) and the same document, secrets redacted alike."""
    at = datetime(2026, 3, 1, 12, 0, 0, 250, tzinfo=UTC)
    fields = (
        "scim.user.update",
        Actor(kind="key", id="k1", auth="bearer_key", key_version=3),
        outcome,
        "User",
        "u-1",
        RequestInfo(source_ip="192.0.2.1", user_agent="ua", request_id="r1"),
        before,
        after,
        detail,
        None,
        False,
    )
    by_event = prepare_event(AuditEvent(*fields), at, pg)
    by_fields = prepare(fields, at, pg)
    assert by_event[0][1:] == by_fields[0][1:]
    assert by_event[0][0] != by_fields[0][0]  # each prepared event gets its own id
    same_id = {"id": "e-1"}
    assert canonical({**by_event[1], **same_id}) == canonical({**by_fields[1], **same_id})
