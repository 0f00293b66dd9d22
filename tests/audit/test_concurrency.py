"""Concurrent appends (issue 5 point 2, and docs/audit.md "Positions"): writers that race,
and some that roll back, still leave a dense, in-order tree that verifies, on SQLite and
PostgreSQL; a verification running while events are appended sees one snapshot."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import text

from ostiary.audit.events import SYSTEM, AuditEvent
from ostiary.store import bootstrap
from ostiary.store.db import Database
from ostiary.store.repositories.audit import AuditLog, AuditReader
from ostiary.store.repositories.audit_integrity import Integrity
from tests.audit.support import START, checkpoint
from tests.support.deploy import Deployment

THREADS, EACH = 4, 12


class Rollback(Exception):
    pass


def _writer(dep: Deployment, n: int, errors: list[BaseException]) -> None:
    try:
        for i in range(EACH):
            event = AuditEvent(action="test.write", actor=SYSTEM, target_id=f"{n}-{i}")
            try:
                with dep.db.begin() as conn:
                    AuditLog(conn).append(event, START + timedelta(seconds=i))
                    if i % 4 == 3:
                        raise Rollback  # the change failed: its event must vanish too
            except Rollback:
                pass
    except BaseException as exc:
        errors.append(exc)


def test_racing_and_rolled_back_appends_leave_a_dense_verifiable_tree(deployment: Deployment):
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_writer, args=(deployment, n, errors)) for n in range(THREADS)
    ]
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    for t in threads:
        t.start()
    reports = []
    while any(t.is_alive() for t in threads):
        with deployment.db.read() as conn:
            reports.append(Integrity(conn, vault).verify())
    for t in threads:
        t.join()
    assert errors == []
    assert all(r.ok for r in reports), [r.problems for r in reports if not r.ok]
    kept = THREADS * (EACH - EACH // 4)
    with deployment.db.read() as conn:
        positions = list(conn.execute(text("SELECT seq FROM audit_events ORDER BY seq")).scalars())
    assert positions == list(range(kept))
    checkpoint(deployment)
    with deployment.db.read() as conn:
        final = Integrity(conn, vault).verify()
    assert final.ok and final.events == kept and final.checkpoints_checked == 1


def test_a_batch_appended_in_one_transaction_is_dense_chained_and_verifies(
    deployment: Deployment,
):
    """The token endpoint's group commit appends a batch with one head update: each event
    still gets its own position, in order, chained to the one before (docs/audit.md)."""
    with deployment.db.begin() as conn:
        AuditLog(conn).append(AuditEvent(action="test.one", actor=SYSTEM), START)
    batch = [
        (AuditEvent(action="test.batch", actor=SYSTEM, target_id=str(i)), START) for i in range(5)
    ]
    with deployment.db.begin() as conn:
        ids = AuditLog(conn).append_many(batch)
    try:
        with deployment.db.begin() as conn:
            AuditLog(conn).append_many(batch[:3])
            raise Rollback  # a failed batch leaves nothing behind
    except Rollback:
        pass
    with deployment.db.begin() as conn:
        AuditLog(conn).append(AuditEvent(action="test.after", actor=SYSTEM), START)
    with deployment.db.read() as conn:
        rows = conn.execute(
            text("SELECT seq AS position, id, target_id FROM audit_events ORDER BY seq")
        ).all()
    assert [r.position for r in rows] == list(range(7))
    assert [r.id for r in rows[1:6]] == ids
    assert [r.target_id for r in rows[1:6]] == ["0", "1", "2", "3", "4"]
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    with deployment.db.read() as conn:
        report = Integrity(conn, vault).verify()
    assert report.ok and report.events == 7, report.problems


def _batch_writer(dep: Deployment, n: int, errors: list[BaseException]) -> None:
    """Like ``_writer``, three events per transaction through ``append_many`` (one head
    bump for the batch, as a deprovisioning and the token endpoint's group commit do)."""
    try:
        for i in range(EACH):
            events = [
                (AuditEvent(action="test.write", actor=SYSTEM, target_id=f"{n}-{i}-{j}"), START)
                for j in range(3)
            ]
            try:
                with dep.db.begin() as conn:
                    AuditLog(conn).append_many(events)
                    if i % 4 == 3:
                        raise Rollback
            except Rollback:
                pass
    except BaseException as exc:
        errors.append(exc)


def test_racing_batches_stay_dense_in_order_and_verifiable(deployment: Deployment):
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_batch_writer, args=(deployment, n, errors)) for n in range(THREADS)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    kept = THREADS * (EACH - EACH // 4) * 3
    with deployment.db.read() as conn:
        report = Integrity(conn, vault).verify()  # sets its isolation level: first statement
    with deployment.db.read() as conn:
        rows = conn.execute(
            text("SELECT seq AS position, target_id FROM audit_events ORDER BY seq")
        ).all()
    assert [r.position for r in rows] == list(range(kept))
    # A batch's events sit next to each other, in the order given.
    for start in range(0, kept, 3):
        targets = [r.target_id for r in rows[start : start + 3]]
        assert [t.rsplit("-", 1)[1] for t in targets] == ["0", "1", "2"]
        assert len({t.rsplit("-", 1)[0] for t in targets}) == 1
    assert report.ok and report.events == kept, report.problems


def test_a_stale_head_hint_is_caught_by_the_head_it_is_checked_against(deployment: Deployment):
    """SQLite places events after the head its engine last committed, without reading it
    (docs/audit.md "Positions"). Two engines (two processes, say) append in turn, one of
    them rolls back after its append (its hint does not move), and the other then writes
    the same tree size with a different last leaf: every append still lands at the next
    position chained to the stored head, and the tree verifies."""
    other = Database(deployment.settings.database_url, pool_size=2)
    try:
        plan = [
            (deployment.db, False),
            (deployment.db, True),  # the hint now names a head that was never committed
            (other, False),  # ... and the stored head has that size, another last leaf
            (deployment.db, False),
            (deployment.db, False),
            (other, False),
            (deployment.db, True),
            (deployment.db, False),
        ]
        for i, (db, roll_back) in enumerate(plan):
            event = AuditEvent(action="test.write", actor=SYSTEM, target_id=f"t{i}")
            try:
                with db.begin() as conn:
                    AuditLog(conn).append(event, START + timedelta(seconds=i))
                    if roll_back:
                        raise Rollback
            except Rollback:
                pass
    finally:
        other.dispose()
    vault = bootstrap.open_vault(deployment.settings, deployment.db)
    with deployment.db.read() as conn:
        report = Integrity(conn, vault).verify()
        targets = list(
            conn.execute(text("SELECT target_id FROM audit_events ORDER BY seq")).scalars()
        )
        head = AuditReader(conn).head()
    assert report.ok, report.problems
    assert targets == ["t0", "t2", "t3", "t4", "t5", "t7"]
    assert head[0] == 6
