"""Issue 5: ``serve`` writes the periodic signed checkpoints itself (every
``audit_checkpoint_interval_seconds``), only when events were added, and nodes due at
the same moment write one checkpoint between them (a PostgreSQL advisory lock)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.testclient import TestClient

from ostiary.store import bootstrap
from ostiary.store.repositories import audit_integrity
from ostiary.store.repositories.audit import AuditReader
from ostiary.store.repositories.audit_integrity import CheckpointStore
from ostiary.store.repositories.audit_outbox import checkpoint_and_witness, checkpoint_if_new
from ostiary.store.tables_audit import audit_checkpoints
from ostiary.web.app import create_app
from tests.audit.support import START, append_events
from tests.support.deploy import Deployment, deploy


def _count(dep: Deployment) -> int:
    with dep.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(audit_checkpoints)).scalar_one())


def _signed_size(dep: Deployment) -> int:
    with dep.db.read() as conn:
        latest = CheckpointStore(conn).latest()
    return latest[1].tree_size if latest else 0


def _head(dep: Deployment) -> int:
    with dep.db.read() as conn:
        return AuditReader(conn).head()[0]


@pytest.fixture
def fast(database_url: str, tmp_path: Path) -> Iterator[Deployment]:
    dep = deploy(database_url, tmp_path, audit_checkpoint_interval_seconds=1)
    yield dep
    dep.db.dispose()


def _wait_for(predicate, timeout: float = 20.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_serve_signs_checkpoints_on_its_own(fast: Deployment):
    """Issue 5 point 1 (periodic signed tree heads) without ``ostiary audit worker``:
    new events get covered by a checkpoint; an idle log gets no new one."""
    app = create_app(fast.settings)
    with TestClient(app, base_url="http://testserver"):
        append_events(fast, 3)
        assert _wait_for(lambda: _signed_size(fast) == _head(fast) >= 3)
        idle = _count(fast)
        time.sleep(2.5)  # two more intervals with nothing new to sign
        assert _count(fast) == idle
        append_events(fast, 2, START.replace(hour=13))
        assert _wait_for(lambda: _signed_size(fast) == _head(fast) >= 5)
        assert _count(fast) == idle + 1
    app.state.ctx.db.dispose()


def test_serve_can_leave_checkpoints_to_the_worker(database_url: str, tmp_path: Path):
    """The maintenance switch (key_scheduler_in_serve=false) also leaves checkpoints to
    ``ostiary audit worker``."""
    dep = deploy(
        database_url, tmp_path, audit_checkpoint_interval_seconds=1, key_scheduler_in_serve=False
    )
    app = create_app(dep.settings)
    with TestClient(app, base_url="http://testserver"):
        append_events(dep, 2)
        time.sleep(2.5)
        assert _count(dep) == 0
    app.state.ctx.db.dispose()
    dep.db.dispose()


def test_nodes_due_at_once_write_one_checkpoint(pg_deployment: Deployment):
    """Two (here four) nodes whose interval ends together: the advisory lock serialises
    them and the later ones find nothing new to sign."""
    dep = pg_deployment
    append_events(dep, 4)
    vault = bootstrap.open_vault(dep.settings, dep.db)
    barrier = threading.Barrier(4)
    results: list[object] = []

    def node() -> None:
        barrier.wait()
        results.append(checkpoint_if_new(dep.db, vault, dep.settings, START))

    threads = [threading.Thread(target=node) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(results) == 4
    assert sum(r is not None for r in results) == 1
    assert _count(dep) == 1 and _signed_size(dep) == 4


@pytest.mark.parametrize(
    ("reads", "sign"),
    [("_leaves_between", checkpoint_if_new), ("_rows_between", checkpoint_and_witness)],
    ids=["periodic", "operator"],
)
def test_writes_go_on_while_a_checkpoint_reads_the_tree(
    deployment: Deployment, monkeypatch: pytest.MonkeyPatch, reads: str, sign: Any
):
    """Issue 5 point 2 (periodic and on-demand checkpoints) without stalling the writes
    they sign: the tree since the latest checkpoint is read (the periodic one folds the
    stored leaf hashes, an operator's verifies every entry) outside the write
    transaction, so an event appended meanwhile is not held back (on SQLite, verifying
    inside it held the write lock for seconds after a busy interval:
    docs/performance.md, session 16); it is left for the next checkpoint."""
    dep = deployment
    append_events(dep, 3)
    vault = bootstrap.open_vault(dep.settings, dep.db)
    real = getattr(audit_integrity, reads)
    writer: list[threading.Thread] = []

    def reading(conn, lo, hi):  # type: ignore[no-untyped-def]
        # Once, while the first checkpoint reads the tree it signs: a write from another
        # connection, given 5 s to get through.
        if not writer:
            writer.append(threading.Thread(target=append_events, args=(dep, 1, START)))
            writer[0].start()
            writer[0].join(5)
        yield from real(conn, lo, hi)

    monkeypatch.setattr(audit_integrity, reads, reading)
    first = sign(dep.db, vault, dep.settings, START)
    blocked = writer[0].is_alive()
    writer[0].join(30)
    assert not blocked, "the append waited for the checkpoint's transaction"
    assert first is not None and first[1].tree_size == 3 and _head(dep) == 4
    second = sign(dep.db, vault, dep.settings, START)
    assert second is not None and second[1].tree_size == 4
    assert checkpoint_if_new(dep.db, vault, dep.settings, START) is None
    assert dep.audit_verifies()
