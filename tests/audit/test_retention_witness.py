"""Retention behind signed checkpoints (issue 5 point 5) and outside witnesses (point 2):
a pruned log still verifies and still serves RFC 9162 inclusion proofs for what remains;
a rewrite of the whole database is caught by a witness file."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from sqlalchemy import text

from ostiary.audit.merkle import inclusion_path, verify_inclusion
from ostiary.store import bootstrap
from ostiary.store.repositories.audit_integrity import CheckpointStore, Integrity
from ostiary.store.repositories.audit_outbox import checkpoint_if_new
from tests.audit.support import START, append_events, checkpoint, cli_env, tamper, verify
from tests.support.deploy import Deployment
from tests.support.server import run_cli


def _cli(dep: Deployment, *args: str, **env: str):
    return run_cli(*args, env=cli_env(dep, **env), cwd=dep.settings.master_key_file.parent)


def test_prune_keeps_what_remains_verifiable(deployment: Deployment):
    dep = deployment
    append_events(dep, 6)
    early = _cli(dep, "audit", "prune", "--before", "2030-01-01", "--yes")
    assert early.returncode == 0 and "nothing to prune" in early.stdout
    checkpoint(dep)
    append_events(dep, 6, START + timedelta(minutes=6))
    checkpoint(dep, START + timedelta(hours=1))
    # Events before 12:08 are old enough, but only the first 6 sit behind a checkpoint.
    pruned = _cli(dep, "audit", "prune", "--before", "2026-03-01T12:08:00Z", "--yes")
    assert pruned.returncode == 0, pruned.stderr
    assert "pruned 6 event(s)" in pruned.stdout
    with dep.db.read() as conn:
        assert conn.execute(text("SELECT min(seq), count(*) FROM audit_events")).one() == (
            6,
            6,
        )
    code, report = verify(dep)
    assert code == 0, report
    assert report["events"] == 6 and report["tree_size"] == 12
    vault = bootstrap.open_vault(dep.settings, dep.db)
    with dep.db.read() as conn:
        _, latest, _ = CheckpointStore(conn).latest()  # type: ignore[misc]
        hashes = Integrity(conn, vault).range_hashes(12)
        leaves = [
            bytes(h)
            for h in conn.execute(text("SELECT leaf_hash FROM audit_events ORDER BY seq")).scalars()
        ]
        for index in range(6, 12):
            path = inclusion_path(index, 12, hashes)
            assert verify_inclusion(leaves[index - 6], index, 12, path, latest.root_hash)
    tamper(dep, "UPDATE audit_events SET target_id = 'x' WHERE seq = 7")
    code, report = verify(dep)
    assert code == 1 and report["first_problem"]["position"] == 7


def test_a_second_prune_verifies_from_the_first_ones_anchor(deployment: Deployment):
    """Pruning verifies its prefix from the previous boundary's frontier and last leaf, so
    the chain is checked across the boundary too."""
    dep = deployment
    append_events(dep, 4)
    checkpoint(dep)
    append_events(dep, 4, START + timedelta(minutes=6))
    checkpoint(dep, START + timedelta(hours=1))
    append_events(dep, 2, START + timedelta(hours=2))
    first = _cli(dep, "audit", "prune", "--before", "2026-03-01T12:05:00Z", "--yes")
    assert first.returncode == 0 and "pruned 4 event(s)" in first.stdout, first.stderr
    second = _cli(dep, "audit", "prune", "--before", "2026-03-01T13:30:00Z", "--yes")
    assert second.returncode == 0 and "pruned 4 event(s)" in second.stdout, second.stderr
    code, report = verify(dep)
    assert code == 0 and report["events"] == 2 and report["tree_size"] == 10, report


def test_prune_refuses_a_prefix_whose_chain_breaks_under_a_signed_leaf(deployment: Deployment):
    """The periodic checkpoint signs the stored leaf hashes without re-hashing entries
    (docs/audit.md "Checkpoints"): an entry rewritten with its leaf hash before it sits
    under a valid signature, and only the next entry's ``prev`` shows the edit. Pruning
    verifies the prefix as ``audit verify`` does, so it refuses rather than delete that
    evidence."""
    dep = deployment
    append_events(dep, 6)
    with dep.db.read() as conn:
        entry = conn.execute(text("SELECT entry FROM audit_events WHERE seq = 2")).scalar()
    forged = entry.replace('"outcome":"success"', '"outcome":"failure"')
    leaf = hashlib.sha256(b"\x00" + forged.encode()).digest()
    tamper(
        dep, "UPDATE audit_events SET entry = :e, leaf_hash = :h WHERE seq = 2", e=forged, h=leaf
    )
    vault = bootstrap.open_vault(dep.settings, dep.db)
    assert checkpoint_if_new(dep.db, vault, dep.settings, START) is not None
    refused = _cli(dep, "audit", "prune", "--before", "2030-01-01", "--yes")
    assert refused.returncode != 0 and "not pruning" in refused.stderr, refused.stdout
    assert "chains to a different hash" in refused.stderr
    with dep.db.read() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events")).scalar() == 6
    code, report = verify(dep)
    assert code == 1 and report["first_problem"]["position"] == 2


def test_witness_catches_a_rewrite_of_the_whole_database(deployment: Deployment, tmp_path):
    dep = deployment
    witness = tmp_path / "witness" / "checkpoints.jsonl"
    append_events(dep, 4)
    made = _cli(dep, "audit", "checkpoint", "--json", OSTIARY_AUDIT_WITNESS_FILE=str(witness))
    assert made.returncode == 0, made.stderr
    assert json.loads(witness.read_text().splitlines()[0])["tree_size"] == 4
    # Someone with the database (and the vault) replaces the whole history and re-signs.
    with dep.db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
        conn.execute(text("DELETE FROM audit_events"))
        conn.execute(text("DELETE FROM audit_checkpoints"))
        conn.execute(text("UPDATE audit_head SET size = 0, last_leaf = NULL"))
        if conn.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
            conn.execute(text("ALTER TABLE audit_checkpoints ENABLE TRIGGER USER"))
    append_events(dep, 4, START + timedelta(days=1))
    checkpoint(dep)
    code, _ = verify(dep)
    assert code == 0  # self-consistent: only an outside copy can tell
    code, report = verify(dep, "--witness", str(witness))
    assert code == 1
    assert "witness line 1" in report["first_problem"]["message"]
    public = _cli(dep, "audit", "public-key")
    key_file = tmp_path / "audit.pem"
    key_file.write_text(public.stdout)
    code, report = verify(dep, "--witness", str(witness), "--public-key", str(key_file))
    assert code == 1


def test_verify_rejects_a_malformed_witness_file(deployment: Deployment, tmp_path):
    bad = tmp_path / "w.jsonl"
    bad.write_text('{"tree_size": "many"}\n')
    result = _cli(deployment, "audit", "verify", "--witness", str(bad))
    assert result.returncode == 2 and "w.jsonl:1" in result.stderr
