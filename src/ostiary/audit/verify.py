"""Recomputing the audit tree from the stored rows and comparing it with what was signed.

The verifier streams rows in tree order and checks, for each one: its position follows
the previous one (a gap is a deletion), its ``seq`` grows (a smaller one is a reorder), its
leaf hash is the hash of its entry (else the entry or hash was modified), the entry names
the same position and chains to the previous entry's leaf hash, and every indexed column
agrees with the entry. The recomputed roots must equal every
signed checkpoint (from the database and from an outside witness), and no checkpoint may
cover more events than exist (a truncated tail).
"""

from __future__ import annotations

import gc
import hashlib
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from ostiary.audit.checkpoint import Checkpoint, CheckpointVerifier
from ostiary.audit.entries import GENESIS
from ostiary.audit.merkle import Frontier

MAX_PROBLEMS = 100


# The columns the store selects, in this order, for every row it hands the verifier. Since
# migration 0019 the stored seq is the tree position, so the store selects it for both.
# Since migration 0024 the stored copies of the entry's fields are only those the search
# indexes are built from; each must still agree with the entry.
ROW_COLUMNS = (
    "seq",
    "position",
    "id",
    "occurred_at",
    "action",
    "actor_id",
    "target_id",
    "entry",
    "leaf_hash",
)
# Where the entry and the leaf hash are in a row; the hot loop spells out 7 and 8 (a
# global read per row costs more; tests/audit/test_tamper.py checks they agree).
ENTRY_AT, LEAF_AT = 7, 8
EventRow = Sequence[Any]
# The copied text columns, in the order the fast path compares them with the entry.
_indexed = operator.itemgetter(2, 4, 5, 6)


@dataclass(frozen=True)
class Anchor:
    """Where the stored rows start: the frontier and last leaf of a pruned prefix."""

    frontier: Frontier
    last_leaf: bytes | None

    @classmethod
    def empty(cls) -> Anchor:
        return cls(Frontier(), None)


@dataclass(frozen=True)
class Problem:
    kind: str  # modified | deleted | inserted | reordered | truncated | checkpoint
    message: str
    position: int | None = None
    event_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass
class Report:
    events: int = 0
    tree_size: int = 0
    root_hash: bytes = b""
    checkpoints_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "checkpoints_checked": self.checkpoints_checked,
            "first_problem": self.problems[0].as_dict() if self.problems else None,
            "problems": [p.as_dict() for p in self.problems],
        }


def _same_time(stored: Any, hashed: str) -> bool:
    if isinstance(stored, str):  # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" (UTC)
        if stored.replace(" ", "T", 1) + "+00:00" == hashed:
            return True
        stored = datetime.fromisoformat(stored)
    if stored.tzinfo is None:
        stored = stored.replace(tzinfo=UTC)
    return bool(stored == datetime.fromisoformat(hashed))


def _columns_disagree(row: EventRow, doc: dict[str, Any]) -> str | None:
    """The first stored column that says something the hashed entry does not."""
    hashed = (doc["id"], None, doc["action"], doc["actor"].get("id"), doc["target"].get("id"))
    for name, value, expected in zip(ROW_COLUMNS[2:7], row[2:7], hashed, strict=True):
        if name != "occurred_at" and value != expected:
            return name
    if not _same_time(row[3], doc["time"]):
        return "occurred_at"
    return None


class Verifier:
    def __init__(
        self,
        public_key: CheckpointVerifier | None,
        checkpoints: Sequence[tuple[str, Checkpoint]],
        anchor: Anchor | None = None,
    ) -> None:
        """``checkpoints``: (source label, checkpoint) pairs, e.g. ("db #3", cp)."""
        self._key = public_key
        self._anchor = anchor or Anchor.empty()
        self._pending = sorted(checkpoints, key=lambda c: c[1].tree_size)
        self.report = Report()
        self.frontier = Frontier()

    def run(
        self, batches: Iterable[Sequence[EventRow]], recorded_size: int | None = None
    ) -> Report:
        """Check rows arriving in tree order, in batches (see :data:`ROW_COLUMNS`)."""
        # Every row and parsed entry is a fresh container, so the cyclic collector would
        # otherwise walk the batches over and over (about a tenth of the run); nothing
        # made here forms a cycle, so pausing it loses nothing.
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._run(batches, recorded_size)
        finally:
            if paused:
                gc.enable()

    def _run(self, batches: Iterable[Sequence[EventRow]], recorded_size: int | None) -> Report:
        report = self.report
        self._check_signatures()
        frontier = self._anchor.frontier.copy()
        self._settle(frontier)
        self._prev_leaf = self._anchor.last_leaf
        sha = hashlib.sha256
        for batch in batches:
            report.events += len(batch)
            # SQLite hands the entry over as bytes, PostgreSQL as str.
            entries = [r[7].encode() if r[7].__class__ is str else bytes(r[7]) for r in batch]
            leaves = [sha(b"\x00" + data).digest() for data in entries]
            self._check_rows(batch, entries, leaves, frontier.size)
            self._grow(frontier, leaves)
        report.tree_size, report.root_hash = frontier.size, frontier.root()
        self.frontier = frontier
        self._check_tail(frontier.size, recorded_size)
        return report

    def _check_rows(
        self, batch: Sequence[EventRow], entries: list[bytes], leaves: list[bytes], size: int
    ) -> None:
        """The per-event checks, inlined: this loop runs a million times for a million
        events, so it makes as few Python calls as it can (one ``orjson.loads``, one
        tuple comparison for the indexed columns) and leaves the explaining to
        :meth:`_diagnose`, which runs only for a row that fails."""
        prev_leaf, prev_seq, prev_id = self._prev_leaf, self._prev_seq, self._prev_id
        loads = orjson.loads
        for row, data, computed in zip(batch, entries, leaves, strict=True):
            prev_hex = prev_leaf.hex() if prev_leaf is not None else GENESIS
            try:
                doc = loads(data)
                stored = row[3]
                ok = (
                    row[1] == size
                    and row[0] > prev_seq
                    and row[8] == computed
                    and doc["position"] == size
                    and doc["prev"] == prev_hex
                    and _indexed(row)
                    == (doc["id"], doc["action"], doc["actor"]["id"], doc["target"]["id"])
                    and (
                        (
                            stored.__class__ is str
                            and stored.replace(" ", "T", 1) + "+00:00" == doc["time"]
                        )
                        or _same_time(stored, doc["time"])
                    )
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
                ok = False
            if not ok:
                self._prev_id = prev_id
                self._diagnose(row, data, computed, size, prev_hex, prev_seq)
            prev_seq, prev_id, prev_leaf = row[0], row[2], computed
            size += 1
        self._prev_leaf, self._prev_seq, self._prev_id = prev_leaf, prev_seq, prev_id

    def _grow(self, frontier: Frontier, leaves: list[bytes]) -> None:
        """Add a batch's leaves to the tree, stopping at each checkpoint's size on the way
        to compare its root."""
        at = 0
        while self._pending:
            cut = at + self._pending[0][1].tree_size - frontier.size
            if cut > len(leaves):
                break
            frontier.extend(leaves[at:cut])
            at = cut
            self._settle(frontier)
        frontier.extend(leaves[at:])

    def _check_signatures(self) -> None:
        for label, cp in self._pending:
            if self._key is None or not self._key.verify(cp):
                self.report.add(
                    Problem(
                        "checkpoint",
                        f"checkpoint {label} (size {cp.tree_size}) has a "
                        "signature that does not verify with the audit public key",
                    )
                )

    def _settle(self, frontier: Frontier) -> None:
        """Compare every checkpoint of exactly this size (or older than the stored rows)."""
        root = None
        while self._pending and self._pending[0][1].tree_size <= frontier.size:
            label, cp = self._pending.pop(0)
            self.report.checkpoints_checked += 1
            if cp.tree_size < frontier.size:
                continue  # covers a pruned prefix: only its signature can still be checked
            root = root or frontier.root()
            if cp.root_hash != root:
                lo = self._last_good
                self.report.add(
                    Problem(
                        "modified",
                        f"the tree of {cp.tree_size} events does not match checkpoint {label} "
                        f"signed at {cp.time.isoformat()}: an event at a position in "
                        f"[{lo}, {cp.tree_size}) was modified, deleted, inserted or reordered "
                        "and its hashes rewritten",
                        position=lo,
                    )
                )
            else:
                self._last_good = cp.tree_size

    _last_good = 0
    _prev_id: str | None = None
    _prev_leaf: bytes | None = None
    _prev_seq = -1

    def _diagnose(
        self,
        row: EventRow,
        entry: bytes,
        computed: bytes,
        expected: int,
        prev_hex: str,
        prev_seq: int,
    ) -> None:
        """The slow path: say precisely what is wrong with this row."""
        seq, position, eid = row[0], row[1], row[2]
        if position != expected:
            if position > expected:
                self._add(
                    "deleted",
                    f"events at positions {expected}..{position - 1} are "
                    f"missing (deleted) before event {eid}",
                    expected,
                    eid,
                )
            else:
                self._add("inserted", f"event {eid} repeats position {position}", position, eid)
            return
        if seq <= prev_seq:
            self._add(
                "reordered",
                f"event {eid} at position {position} was stored before "
                "the event preceding it (rows swapped or reordered)",
                position,
                eid,
            )
            return
        if bytes(row[LEAF_AT]) != computed:
            self._add(
                "modified",
                f"event {eid}: its entry no longer hashes to its recorded "
                "leaf hash (entry or hash modified)",
                position,
                eid,
            )
            return
        try:
            doc = orjson.loads(entry)
            chained_pos, chained_prev = doc["position"], doc["prev"]
            mismatch = _columns_disagree(row, doc)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            self._add(
                "modified", f"event {eid}: its entry is not a valid audit entry", position, eid
            )
            return
        if chained_pos != position:
            self._add(
                "reordered",
                f"event {eid} was hashed at position {chained_pos} but is stored at {position}",
                position,
                eid,
            )
        elif chained_prev != prev_hex:
            # Positions and seq are in order, so the predecessor was rewritten together
            # with its leaf hash (or this entry's link was): name the earlier event.
            self._add(
                "modified",
                f"event {self._prev_id or '(pruned)'} at position "
                f"{position - 1} was rewritten: event {eid} chains to a different hash",
                position - 1,
                self._prev_id,
            )
        else:
            what = f"stored column {mismatch!r} differs from" if mismatch else "does not match"
            self._add("modified", f"event {eid}: {what} the hashed entry", position, eid)

    def _add(self, kind: str, message: str, position: int, event_id: str | None) -> None:
        self.report.add(Problem(kind, message, position, event_id))

    def _check_tail(self, size: int, recorded_size: int | None) -> None:
        for label, cp in self._pending:
            self.report.add(
                Problem(
                    "truncated",
                    f"checkpoint {label} covers {cp.tree_size} events but "
                    f"only {size} exist: events from position {size} onward were deleted",
                    position=size,
                )
            )
        self._pending = []
        if recorded_size is not None and recorded_size != size:
            self.report.add(
                Problem(
                    "truncated" if recorded_size > size else "inserted",
                    f"the log head records {recorded_size} events but {size} are stored",
                    position=min(size, recorded_size),
                )
            )
