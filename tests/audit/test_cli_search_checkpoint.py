"""``ostiary audit search`` (keyset pages), ``checkpoint`` (refuses to sign over a tampered
row), the periodic checkpoint (signs the stored leaves, refuses a gap) and ``worker
--once``; the event document (redaction, diff)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from ostiary.audit.entries import diff, event_document
from ostiary.audit.errors import TamperDetected
from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.core.crypto.vault import Vault
from ostiary.store import bootstrap
from ostiary.store.repositories.audit_outbox import checkpoint_if_new
from tests.audit.support import START, append_events, checkpoint, cli_env, tamper
from tests.support.deploy import Deployment
from tests.support.server import run_cli


def _cli(dep: Deployment, *args: str):
    return run_cli(*args, env=cli_env(dep), cwd=dep.settings.master_key_file.parent)


def test_search_pages_with_a_cursor(sqlite_deployment: Deployment):
    dep = sqlite_deployment
    append_events(dep, 5)
    append_events(dep, 3, START + timedelta(hours=1), action="key.create")
    first = json.loads(
        _cli(
            dep, "audit", "search", "--action", "scim.user.create", "--limit", "3", "--json"
        ).stdout
    )
    assert [e["target"]["id"] for e in first["events"]] == ["user-0", "user-1", "user-2"]
    rest = json.loads(
        _cli(
            dep,
            "audit",
            "search",
            "--action",
            "scim.user.create",
            "--limit",
            "3",
            "--cursor",
            str(first["next_cursor"]),
            "--json",
        ).stdout
    )
    assert [e["target"]["id"] for e in rest["events"]] == ["user-3", "user-4"]
    assert rest["next_cursor"] is None
    since = json.loads(
        _cli(dep, "audit", "search", "--since", "2026-03-01T13:00:00", "--json").stdout
    )
    assert {e["action"] for e in since["events"]} == {"key.create"}
    assert _cli(dep, "audit", "search", "--since", "yesterday").returncode == 2


def test_checkpoint_refuses_to_sign_over_a_tampered_row(deployment: Deployment):
    append_events(deployment, 4)
    checkpoint(deployment)
    append_events(deployment, 2, START + timedelta(hours=1))
    tamper(deployment, "UPDATE audit_events SET action = 'nothing' WHERE seq = 5")
    with pytest.raises(TamperDetected, match="refusing to sign"):
        checkpoint(deployment)
    result = _cli(deployment, "audit", "checkpoint")
    assert result.returncode == 1 and "refusing to sign" in result.stderr


def _signed_then_grown(dep: Deployment) -> Vault:
    """Four events under a checkpoint, three after it (positions 4 to 6); the vault."""
    append_events(dep, 4)
    checkpoint(dep)
    append_events(dep, 3, START + timedelta(hours=1))
    return bootstrap.open_vault(dep.settings, dep.db)


def test_periodic_checkpoint_signs_the_stored_leaves_and_verify_still_names_the_edit(
    deployment: Deployment,
):
    """The periodic checkpoint folds the stored leaf hashes without re-hashing entries
    (docs/audit.md "Checkpoints"): an entry edited behind its leaf is signed over, and
    stays evident, because the signature commits to the leaf the entry no longer hashes
    to; so is a leaf rewritten with its entry, by the next entry's ``prev``."""
    dep = deployment
    vault = _signed_then_grown(dep)
    tamper(dep, "UPDATE audit_events SET entry = replace(entry, 'u1', 'u9') WHERE seq = 5")
    signed = checkpoint_if_new(dep.db, vault, dep.settings, START)
    assert signed is not None and signed[1].tree_size == 7
    report = json.loads(_cli(dep, "audit", "verify", "--json").stdout)
    assert not report["ok"] and report["checkpoints_checked"] == 2
    assert report["first_problem"]["position"] == 5
    assert "no longer hashes to its recorded leaf hash" in report["first_problem"]["message"]


def test_periodic_checkpoint_refuses_to_sign_over_missing_events(deployment: Deployment):
    dep = deployment
    vault = _signed_then_grown(dep)
    tamper(dep, "DELETE FROM audit_events WHERE seq = 5")
    with pytest.raises(TamperDetected, match="refusing to sign: events between positions 4"):
        checkpoint_if_new(dep.db, vault, dep.settings, START)
    assert _cli(dep, "audit", "worker", "--once").returncode == 0  # reported, not fatal


def test_worker_once_writes_a_checkpoint_only_when_the_tree_grew(sqlite_deployment):
    dep = sqlite_deployment
    append_events(dep, 3)
    assert _cli(dep, "audit", "worker", "--once").returncode == 0
    assert _cli(dep, "audit", "worker", "--once").returncode == 0
    listed = json.loads(_cli(dep, "audit", "verify", "--json").stdout)
    assert listed["ok"] and listed["checkpoints_checked"] == 1


def test_event_document_redacts_secrets_and_records_changes():
    """Before/after diff with secrets and password hashes redacted (issue 5 point 1)."""
    event = AuditEvent(
        action="scim.user.replace",
        actor=SYSTEM,
        target_type="User",
        target_id="u1",
        before={
            "userName": "ada",
            "password_hash": "$argon2id$...",
            "name": {"givenName": "A"},
            "meta": {"version": 'W/"1"'},
        },
        after={
            "userName": "ada",
            "password": "new-secret",
            "name": {"givenName": "Ada"},
            "meta": {"version": 'W/"2"'},
        },
    )
    doc = event_document(event, "id-1", START)
    assert "new-secret" not in json.dumps(doc) and "$argon2id$" not in json.dumps(doc)
    assert {"path": "name.givenName", "from": "A", "to": "Ada"} in doc["changes"]
    assert all(c["path"] != "meta.version" for c in doc["changes"])
    assert diff({"a": [1]}, {"a": [1]}) == []
