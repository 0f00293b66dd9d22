"""``ostiary audit export``: JSON Lines as hashed, and OCSF 1.3 Identity & Access
Management events whose structure matches the OCSF class definitions (ocsf-schema
``events/base_event.json``, ``events/iam/*.json``, ``objects/*.json``)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.store.repositories.audit import AuditLog
from tests.audit.support import START, cli_env
from tests.support.deploy import Deployment
from tests.support.server import run_cli

# Required attributes (name -> JSON type) of the OCSF base event, and per class.
BASE_REQUIRED = {
    "activity_id": int,
    "category_uid": int,
    "class_uid": int,
    "metadata": dict,
    "severity_id": int,
    "time": int,
    "type_uid": int,
}
CLASS_REQUIRED: dict[int, dict[str, type]] = {
    3001: {"user": dict},  # Account Change
    3002: {"user": dict},  # Authentication
    3004: {"entity": dict},  # Entity Management
    3005: {"privileges": list, "user": dict},  # User Access Management
    3006: {"group": dict},  # Group Management (and at least one of privileges, user)
}
ACTIVITIES = {
    3001: {*range(0, 12), 99},
    3002: {*range(0, 7), 99},
    3004: {*range(0, 5), 99},
    3005: {0, 1, 2, 99},
    3006: {*range(0, 7), 99},
}
RECORDED = {
    "scim.user.create": (3001, 1),
    "scim.user.delete": (3001, 6),
    "user.disable": (3001, 5),
    "oidc.login.success": (3002, 1),
    "oidc.token.issue": (3002, 3),
    "scim.group.create": (3004, 1),
    "key.revoke": (3004, 4),
    "admin.role.grant": (3005, 1),
    "scim.group.member.add": (3006, 3),
    "scim.group.member.remove": (3006, 4),
}


def _record(dep: Deployment) -> None:
    for i, action in enumerate(RECORDED):
        group = ".group" in action
        event = AuditEvent(
            action=action,
            actor=Actor(kind="key", id="k1AbCdEfGhIj", auth="bearer_key", key_version=2),
            outcome="success" if i % 3 else "failure",
            target_type="Group" if group else "User",
            target_id=f"t-{i}",
            request=RequestInfo(source_ip="198.51.100.9", user_agent="ua", request_id=f"r{i}"),
            after={"displayName": "Ops"} if group else {"userName": f"u{i}"},
            detail={"member": "u-1"}
            if "member" in action
            else ({"privileges": ["owner"]} if "role" in action else {}),
        )
        with dep.db.begin() as conn:
            AuditLog(conn).append(event, START + timedelta(seconds=i))


def _check_object(obj: dict[str, Any], one_of: tuple[str, ...]) -> None:
    assert any(isinstance(obj.get(k), str) for k in one_of), obj


def test_ocsf_export_matches_the_class_structure(sqlite_deployment: Deployment):
    dep = sqlite_deployment
    _record(dep)
    out = run_cli(
        "audit",
        "export",
        "--format",
        "ocsf",
        env=cli_env(dep),
        cwd=dep.settings.master_key_file.parent,
    )
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(events) == len(RECORDED)
    for event, (action, (class_uid, activity_id)) in zip(events, RECORDED.items(), strict=True):
        for name, kind in {**BASE_REQUIRED, **CLASS_REQUIRED[class_uid]}.items():
            assert isinstance(event.get(name), kind), (action, name, event.get(name))
        assert event["category_uid"] == 3 and event["class_uid"] == class_uid
        assert event["activity_id"] == activity_id in ACTIVITIES[class_uid]
        assert event["type_uid"] == class_uid * 100 + activity_id
        assert event["severity_id"] in {0, 1, 2, 3, 4, 5, 6, 99}
        assert event["status_id"] in {0, 1, 2, 99}
        assert event["time"] == int(START.timestamp() * 1000) + 1000 * list(RECORDED).index(action)
        meta = event["metadata"]
        assert isinstance(meta["version"], str) and meta["version"].startswith("1.")
        assert isinstance(meta["product"]["vendor_name"], str) and meta["product"]["name"]
        assert event["src_endpoint"] == {"ip": "198.51.100.9"}
        actor_user = event["actor"]["user"]
        _check_object(actor_user, ("uid", "name"))
        assert actor_user["credential_uid"] == "k1AbCdEfGhIj#v2"
        for obj in ("user", "group", "entity"):
            if obj in event:
                _check_object(event[obj], ("uid", "name"))
        if class_uid == 3006:
            assert "privileges" in event or "user" in event
    failed = [e for e in events if e["status_id"] == 2]
    assert failed and all(e["status"] == "Failure" for e in failed)


def test_jsonl_export_is_the_hashed_documents(sqlite_deployment: Deployment, tmp_path):
    dep = sqlite_deployment
    _record(dep)
    target = tmp_path / "out.jsonl"
    out = run_cli(
        "audit",
        "export",
        "--format",
        "jsonl",
        "--action",
        "scim.group.*",
        "--output",
        str(target),
        env=cli_env(dep),
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    docs = [json.loads(line) for line in target.read_text().splitlines()]
    assert [d["action"] for d in docs] == [a for a in RECORDED if a.startswith("scim.group.")]
    assert all({"position", "prev", "id", "time", "actor"} <= d.keys() for d in docs)
    bad = run_cli("audit", "export", "--format", "xml", env=cli_env(dep), cwd=tmp_path)
    assert bad.returncode == 2
