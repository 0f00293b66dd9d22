"""Checkpoints, verification, proofs and pruning over the stored audit tree.

An operator's checkpoint is signed only over rows that verify (every entry re-hashed);
the periodic one folds the stored leaf hashes, which it commits to (see
:meth:`Integrity.stored_head`). A prefix is only pruned once it is shown to hash to a
signed checkpoint's root and verified as ``ostiary audit verify`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text

from ostiary.audit.checkpoint import Checkpoint, CheckpointSigner, CheckpointVerifier
from ostiary.audit.errors import AuditError, TamperDetected
from ostiary.audit.merkle import Frontier, node_hash, split_point
from ostiary.audit.verify import Anchor, Report, Verifier
from ostiary.core.crypto.vault import Vault
from ostiary.store.repositories.audit import AuditReader
from ostiary.store.repositories.vault import SecretRepository
from ostiary.store.tables_audit import (
    audit_anchor,
    audit_checkpoints,
    audit_events,
    audit_outcomes,
    audit_search,
    audit_time_ranges,
)

SIGNING_KEY = "audit.signing_key"
BATCH = 20_000


def signer(conn: Connection, vault: Vault) -> CheckpointSigner:
    """The audit signing key, created (sealed in the vault) on first use."""
    return CheckpointSigner(
        SecretRepository(conn, vault).get_or_create(SIGNING_KEY, CheckpointSigner.generate_seed)
    )


def frontier_json(f: Frontier) -> dict[str, Any]:
    return {"size": f.size, "hashes": [h.hex() for h in f.hashes]}


def frontier_from(doc: dict[str, Any]) -> Frontier:
    return Frontier(int(doc["size"]), [bytes.fromhex(h) for h in doc["hashes"]])


def _checkpoint(row: Any) -> Checkpoint:
    return Checkpoint(
        row.origin,
        int(row.tree_size),
        bytes(row.root_hash),
        int(row.time_ms),
        row.key_id,
        bytes(row.signature),
    )


class CheckpointStore:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def all(self) -> list[tuple[int, Checkpoint]]:
        rows = self._conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.id))
        return [(int(r.id), _checkpoint(r)) for r in rows]

    def latest(self) -> tuple[int, Checkpoint, Frontier] | None:
        row = self._conn.execute(
            select(audit_checkpoints)
            .order_by(audit_checkpoints.c.tree_size.desc(), audit_checkpoints.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            return None
        return int(row.id), _checkpoint(row), frontier_from(row.frontier)

    def get(self, checkpoint_id: int) -> tuple[Checkpoint, Frontier] | None:
        row = self._conn.execute(
            select(audit_checkpoints).where(audit_checkpoints.c.id == checkpoint_id)
        ).first()
        return (_checkpoint(row), frontier_from(row.frontier)) if row else None

    def add(self, cp: Checkpoint, frontier: Frontier) -> int:
        result = self._conn.execute(
            insert(audit_checkpoints).values(
                origin=cp.origin,
                tree_size=cp.tree_size,
                root_hash=cp.root_hash,
                time_ms=cp.time_ms,
                key_id=cp.key_id,
                signature=cp.signature,
                frontier=frontier_json(frontier),
            )
        )
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def load_anchor(conn: Connection) -> Anchor:
    row = conn.execute(select(audit_anchor).where(audit_anchor.c.id == 1)).first()
    if row is None:
        return Anchor.empty()
    return Anchor(frontier_from(row.frontier), bytes(row.last_leaf) if row.last_leaf else None)


def _last_leaf_before(conn: Connection, position: int, anchor: Anchor) -> bytes | None:
    if position == 0:
        return None
    if position == anchor.frontier.size:
        return anchor.last_leaf
    h = conn.execute(
        select(audit_events.c.leaf_hash).where(audit_events.c.seq == position - 1)
    ).scalar()
    return bytes(h) if h is not None else None


def _rows_between(conn: Connection, lo: int, hi: int) -> Iterable[list[Any]]:
    for batch in AuditReader(conn).batches(lo):
        if batch[-1][1] < hi:
            yield batch
            continue
        yield [row for row in batch if row[1] < hi]
        return


LEAF_CHUNK = 50_000  # leaf hashes a query of the periodic checkpoint reads


def _leaves_between(conn: Connection, lo: int, hi: int) -> Iterator[tuple[int, int, list[bytes]]]:
    """The stored leaf hashes of positions ``lo`` to ``hi``, in chunks: each chunk's
    bounds and its hashes, fewer than the bounds span when events are missing
    (positions are the primary key, so a full chunk holds every one)."""
    reader = AuditReader(conn)
    while lo < hi:
        end = min(hi, lo + LEAF_CHUNK)
        yield lo, end, reader.leaf_hashes(lo, end)
        lo = end


@dataclass
class Integrity:
    """Operations on one connection (the caller owns the transaction)."""

    conn: Connection
    vault: Vault

    def public_key(self) -> CheckpointVerifier:
        return signer(self.conn, self.vault).public

    def _existing_key(self) -> CheckpointVerifier | None:
        """The public key, without creating one (verification only reads)."""
        seed = SecretRepository(self.conn, self.vault).get(SIGNING_KEY)
        return CheckpointSigner(seed).public if seed else None

    def checkpoint(self, origin: str, now: datetime) -> tuple[int, Checkpoint]:
        """Sign the tree as it stands, after verifying the events added since the last
        checkpoint (so a tampered row is never signed over)."""
        size, frontier = self.verified_head()
        return self.sign(origin, size, frontier, now)

    def verified_head(self) -> tuple[int, Frontier]:
        """The tree's size and frontier, once the events added since the latest
        checkpoint verify against it (every entry re-hashed, its chain and columns
        checked): what an operator's checkpoint signs. Reads only, so it may run in a
        read unit, outside SQLite's write lock (session 16)."""
        size, _ = AuditReader(self.conn).head()
        base, public = self._base()
        check = Verifier(public, [], base)
        report = check.run(_rows_between(self.conn, base.frontier.size, size), recorded_size=None)
        if not report.ok or report.tree_size != size:
            first = report.problems[0].message if report.problems else "events are missing"
            raise TamperDetected(f"refusing to sign a tampered log: {first}")
        return size, check.frontier

    def stored_head(self) -> tuple[int, Frontier]:
        """The tree's size and frontier folded from the stored leaf hashes of the events
        added since the latest checkpoint, which must all be there: what the periodic
        checkpoint signs. No entry is read or re-hashed. A checkpoint commits to the
        leaf hashes, so an entry changed behind its leaf, or a leaf changed without the
        next entry's ``prev``, stays evident to ``ostiary audit verify`` after it is
        signed; what verifying first adds is the alarm at signing time, at the cost of
        reading and hashing every event again (~5 us an event, ~1% of a SCIM create's
        CPU at saturation; docs/performance.md, session 17). A rewrite of entries,
        leaves and chain together passes either way: catching that is the witness's job.
        """
        size, _ = AuditReader(self.conn).head()
        frontier = self._base()[0].frontier.copy()
        for lo, hi, leaves in _leaves_between(self.conn, frontier.size, size):
            if len(leaves) != hi - lo:
                raise TamperDetected(
                    f"refusing to sign: events between positions {lo} and {hi - 1} are "
                    "missing; run 'ostiary audit verify'"
                )
            frontier.extend(leaves)
        return size, frontier

    def _base(self) -> tuple[Anchor, CheckpointVerifier | None]:
        """Where new events start: the latest checkpoint (its signature and stored
        frontier checked) or the pruned prefix's anchor; and the public key."""
        anchor = load_anchor(self.conn)
        latest = CheckpointStore(self.conn).latest()
        public = self._existing_key()
        if latest and latest[1].tree_size >= anchor.frontier.size:
            _, cp, frontier = latest
            if frontier.root() != cp.root_hash or public is None or not public.verify(cp):
                raise TamperDetected(
                    "the latest checkpoint does not verify: run 'ostiary audit verify'"
                )
            return Anchor(frontier, _last_leaf_before(self.conn, cp.tree_size, anchor)), public
        return anchor, public

    def sign(
        self, origin: str, size: int, frontier: Frontier, now: datetime
    ) -> tuple[int, Checkpoint]:
        """Sign and store the checkpoint of a verified tree (:meth:`verified_head`); the
        signing key is made on first use."""
        cp = signer(self.conn, self.vault).sign(origin, size, frontier.root(), now)
        return CheckpointStore(self.conn).add(cp, frontier), cp

    def verify(
        self,
        witness: Sequence[Checkpoint] = (),
        public_key: CheckpointVerifier | None = None,
    ) -> Report:
        """Verify the whole log. Call first thing in a fresh read transaction: on
        PostgreSQL it switches that transaction to REPEATABLE READ, so the head, the
        checkpoints and every batch of rows come from one snapshot even while events
        keep being appended."""
        if self.conn.dialect.name == "postgresql":
            self.conn.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
        key = public_key or self._existing_key()
        checkpoints = [(f"#{i}", cp) for i, cp in CheckpointStore(self.conn).all()]
        checkpoints += [(f"witness line {n}", cp) for n, cp in enumerate(witness, 1)]
        reader = AuditReader(self.conn)
        size, _ = reader.head()
        return Verifier(key, checkpoints, load_anchor(self.conn)).run(reader.batches(), size)

    def range_hashes(self, size: int) -> DbRangeHashes:
        return DbRangeHashes(self.conn, load_anchor(self.conn), size)


class DbRangeHashes:
    """Subtree hashes for proofs: streamed from stored leaf hashes, with the pruned
    prefix represented by its frontier (the only pruned subtrees a proof about a
    retained leaf ever needs)."""

    def __init__(self, conn: Connection, anchor: Anchor, size: int) -> None:
        self._conn = conn
        self._pruned = anchor.frontier.size
        self._known = dict(zip(anchor.frontier.ranges(), anchor.frontier.hashes, strict=True))
        self._size = size

    def __call__(self, lo: int, hi: int) -> bytes:
        known = self._known.get((lo, hi))
        if known is not None:
            return known
        if lo < self._pruned:
            if hi - lo < 2:
                raise AuditError(f"event {lo} has been pruned; its proof is no longer available")
            k = split_point(hi - lo)
            return node_hash(self(lo, lo + k), self(lo + k, hi))
        f, reader, at = Frontier(), AuditReader(self._conn), lo
        while at < hi:
            chunk = reader.leaf_hashes(at, min(hi, at + BATCH))
            if not chunk:
                raise AuditError(f"events {at}..{hi - 1} are missing")
            f.extend(chunk)
            at += len(chunk)
        return f.root()


def prune(
    conn: Connection, vault: Vault, before: datetime, floor: int | None, now: datetime
) -> tuple[int, int]:
    """Delete the events before ``before`` that a signed checkpoint covers, keeping the
    frontier and last leaf of the pruned prefix. ``floor`` caps the boundary (the
    slowest sink's cursor). Returns (events deleted, new boundary)."""
    anchor = load_anchor(conn)
    # A walk in seq order from the oldest event: it stops after about as many rows as
    # there are events to prune.
    first_kept = conn.execute(
        select(audit_events.c.seq)
        .where(audit_events.c.occurred_at >= before)
        .order_by(audit_events.c.seq)
        .limit(1)
    ).scalar()
    limit = AuditReader(conn).head()[0] if first_kept is None else int(first_kept)
    if floor is not None:
        limit = min(limit, floor)
    row = conn.execute(
        select(audit_checkpoints)
        .where(
            audit_checkpoints.c.tree_size <= limit,
            audit_checkpoints.c.tree_size > anchor.frontier.size,
        )
        .order_by(audit_checkpoints.c.tree_size.desc())
        .limit(1)
    ).first()
    if row is None:
        return 0, anchor.frontier.size
    cp, boundary = _checkpoint(row), int(row.tree_size)
    key = signer(conn, vault).public
    if not key.verify(cp):
        raise TamperDetected(f"checkpoint #{row.id} does not verify; not pruning")
    # The events leave for good, so they are verified as ``ostiary audit verify`` does
    # (entries re-hashed, chain, positions, columns) against the checkpoint, not only
    # re-hashed: the periodic checkpoint signs the stored leaf hashes without verifying
    # (Integrity.stored_head), and a leaf rewritten with its entry is evident only by
    # the next entry's ``prev``, which pruning would delete too.
    check = Verifier(key, [(f"#{row.id}", cp)], anchor)
    report = check.run(_rows_between(conn, anchor.frontier.size, boundary), recorded_size=None)
    if not report.ok or report.tree_size != boundary:
        first = report.problems[0].message if report.problems else "events are missing"
        raise TamperDetected(
            f"events before position {boundary} do not verify against checkpoint "
            f"#{row.id}: {first}; not pruning (run 'ostiary audit verify')"
        )
    frontier = check.frontier
    values = {
        "size": boundary,
        "frontier": frontier_json(frontier),
        "last_leaf": _last_leaf_before(conn, boundary, anchor),
        "checkpoint_id": int(row.id),
        "pruned_at": now,
    }
    conn.execute(delete(audit_anchor))
    conn.execute(insert(audit_anchor).values(id=1, **values))
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL ostiary.audit_prune = 'on'"))
    AuditReader(conn).settle_head()  # SQLite's head row may lag behind the rows deleted
    conn.execute(delete(audit_search).where(audit_search.c.seq < boundary))
    ranges = audit_time_ranges
    conn.execute(delete(ranges).where(ranges.c.end_seq <= boundary))
    conn.execute(delete(audit_outcomes).where(audit_outcomes.c.seq < boundary))
    deleted = conn.execute(delete(audit_events).where(audit_events.c.seq < boundary))
    return int(deleted.rowcount or 0), boundary
