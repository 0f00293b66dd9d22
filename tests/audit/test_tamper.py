"""Issue 5 "done when": direct database tampering is caught by ``ostiary audit verify``
(RFC 9162 section 2.1 tree, chained entries, signed checkpoints), on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from tests.audit.support import append_events, checkpoint, position_id, tamper, verify
from tests.support.deploy import Deployment

N = 10


@pytest.fixture
def logged(deployment: Deployment) -> Deployment:
    append_events(deployment, N)
    checkpoint(deployment)
    return deployment


def test_an_intact_log_verifies(logged: Deployment):
    code, report = verify(logged)
    assert code == 0 and report["ok"]
    assert report["events"] == N and report["checkpoints_checked"] == 1


def test_changed_field_is_named(logged: Deployment):
    victim = position_id(logged, 3)
    tamper(logged, "UPDATE audit_events SET actor_id = 'mallory' WHERE seq = 3")
    code, report = verify(logged)
    assert code == 1
    first = report["first_problem"]
    assert first["kind"] == "modified" and first["event_id"] == victim
    assert "actor_id" in first["message"]


def test_changed_entry_with_recomputed_hash_breaks_the_chain(logged: Deployment):
    """Rewriting an entry and its leaf hash still fails: the next entry chains to the old
    leaf hash, and the checkpoint root no longer matches."""
    import hashlib

    with logged.db.read() as conn:
        entry = conn.execute(text("SELECT entry FROM audit_events WHERE seq = 5")).scalar()
    victim = position_id(logged, 5)
    forged = entry.replace('"outcome":"success"', '"outcome":"failure"')
    leaf = hashlib.sha256(b"\x00" + forged.encode()).digest()
    tamper(
        logged,
        "UPDATE audit_events SET entry = :e, leaf_hash = :h WHERE seq = 5",
        e=forged,
        h=leaf,
    )
    code, report = verify(logged)
    assert code == 1
    first = report["first_problem"]
    assert first == {**first, "kind": "modified", "position": 5, "event_id": victim}
    assert any("does not match checkpoint" in p["message"] for p in report["problems"])


def test_deleted_row_is_named(logged: Deployment):
    tamper(logged, "DELETE FROM audit_events WHERE seq = 4")
    code, report = verify(logged)
    assert code == 1
    first = report["first_problem"]
    assert first["kind"] == "deleted" and first["position"] == 4


def test_swapped_rows_are_named(logged: Deployment):
    a, b = position_id(logged, 2), position_id(logged, 6)
    tamper(
        logged,
        "UPDATE audit_events SET seq = -1 WHERE seq = 2",
        "UPDATE audit_events SET seq = 2 WHERE seq = 6",
        "UPDATE audit_events SET seq = 6 WHERE seq = -1",
    )
    code, report = verify(logged)
    assert code == 1
    first = report["first_problem"]
    assert first["kind"] == "reordered" and first["position"] == 2 and first["event_id"] == b
    assert a != b


def test_inserted_row_is_named(logged: Deployment):
    """A forged event slipped into the middle: later positions shifted to make room."""
    with logged.db.read() as conn:
        row = conn.execute(text("SELECT * FROM audit_events WHERE seq = 3")).mappings().one()
    forged = dict(row)
    # (its seq is 3: the forgery takes that position)
    forged["id"] = "00000000-0000-7000-8000-000000000000"
    tamper(
        logged,
        "UPDATE audit_events SET seq = seq + 100 WHERE seq >= 3",
        "UPDATE audit_events SET seq = seq - 99 WHERE seq >= 103",
    )
    with logged.db.begin() as conn:
        cols = ", ".join(forged)
        conn.execute(
            text(
                f"INSERT INTO audit_events ({cols}) VALUES ({', '.join(':' + c for c in forged)})"
            ),
            forged,
        )
    code, report = verify(logged)
    assert code == 1
    first = report["first_problem"]
    assert first["position"] == 3


def test_truncated_tail_is_caught(logged: Deployment):
    """Deleting the newest events (and fixing up the head) cannot undo the checkpoint."""
    tamper(logged, "DELETE FROM audit_events WHERE seq >= 7", "UPDATE audit_head SET size = 7")
    code, report = verify(logged)
    assert code == 1
    first = report["first_problem"]
    assert first["kind"] == "truncated" and first["position"] == 7


@pytest.mark.postgres
def test_postgres_refuses_update_and_delete_of_audit_rows(postgres_deployment: Deployment):
    """On PostgreSQL the application cannot rewrite history (append-only trigger)."""
    append_events(postgres_deployment, 2)
    for statement in (
        "UPDATE audit_events SET actor_id = 'x'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ):
        with (
            pytest.raises(DBAPIError, match="append-only"),
            postgres_deployment.db.begin() as conn,
        ):
            conn.execute(text(statement))
    code, _ = verify(postgres_deployment)
    assert code == 0
