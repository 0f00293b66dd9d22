"""Recomputing the audit tree from the stored rows and comparing it with what was signed.

The verifier streams rows in tree order and checks, for each one: its position follows
the previous one (a gap is a deletion), its ``seq`` grows (a smaller one is a reorder), its
leaf hash is the hash of its entry (else the entry or hash was modified), the entry names
the same position and chains to the previous entry's leaf hash, and every indexed column
and the ``event`` document agree with the entry. The recomputed roots must equal every
signed checkpoint (from the database and from an outside witness), and no checkpoint may
cover more events than exist (a truncated tail).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from ostiary.audit.checkpoint import Checkpoint, CheckpointVerifier
from ostiary.audit.entries import GENESIS
from ostiary.audit.merkle import Frontier, leaf_hash

MAX_PROBLEMS = 100


class EventRow(Protocol):
    """One stored audit row, as the store reads it."""

    @property
    def seq(self) -> int: ...
    @property
    def position(self) -> int: ...
    @property
    def id(self) -> str: ...
    @property
    def occurred_at(self) -> datetime: ...
    @property
    def action(self) -> str: ...
    @property
    def outcome(self) -> str: ...
    @property
    def actor_kind(self) -> str: ...
    @property
    def actor_id(self) -> str: ...
    @property
    def target_type(self) -> str | None: ...
    @property
    def target_id(self) -> str | None: ...
    @property
    def request_id(self) -> str | None: ...
    @property
    def source_ip(self) -> str | None: ...
    @property
    def event(self) -> Any: ...
    @property
    def entry(self) -> str: ...
    @property
    def leaf_hash(self) -> bytes: ...


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


def _columns_disagree(row: EventRow, doc: dict[str, Any]) -> str | None:
    """The first indexed column that says something the hashed entry does not."""
    actor, target, request = doc["actor"], doc["target"], doc["request"]
    expected = (
        ("id", row.id, doc["id"]),
        ("action", row.action, doc["action"]),
        ("outcome", row.outcome, doc["outcome"]),
        ("actor_kind", row.actor_kind, actor.get("kind")),
        ("actor_id", row.actor_id, actor.get("id")),
        ("target_type", row.target_type, target.get("type")),
        ("target_id", row.target_id, target.get("id")),
        ("request_id", row.request_id, request.get("request_id")),
        ("source_ip", row.source_ip, request.get("source_ip")),
    )
    for name, stored, hashed in expected:
        if stored != hashed:
            return name
    at = row.occurred_at
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at
    if at != datetime.fromisoformat(doc["time"]):
        return "occurred_at"
    event = row.event
    if isinstance(event, str | bytes):
        event = orjson.loads(event)
    if event != doc:
        return "event"
    return None


class Verifier:
    def __init__(
        self,
        public_key: CheckpointVerifier,
        checkpoints: Sequence[tuple[str, Checkpoint]],
        anchor: Anchor | None = None,
    ) -> None:
        """``checkpoints``: (source label, checkpoint) pairs, e.g. ("db #3", cp)."""
        self._key = public_key
        self._anchor = anchor or Anchor.empty()
        self._pending = sorted(checkpoints, key=lambda c: c[1].tree_size)
        self.report = Report()
        self.frontier = Frontier()

    def run(self, rows: Iterable[EventRow], recorded_size: int | None = None) -> Report:
        report = self.report
        self._check_signatures()
        frontier = self._anchor.frontier.copy()
        prev_leaf = self._anchor.last_leaf
        self._settle(frontier)
        prev_seq = -1
        for row in rows:
            report.events += 1
            computed = self._check_row(row, frontier.size, prev_leaf, prev_seq)
            prev_seq = row.seq
            self._prev_id = row.id
            prev_leaf = computed
            frontier.append(computed)
            if self._pending and self._pending[0][1].tree_size == frontier.size:
                self._settle(frontier)
        report.tree_size, report.root_hash = frontier.size, frontier.root()
        self.frontier = frontier
        self._check_tail(frontier.size, recorded_size)
        return report

    def _check_signatures(self) -> None:
        for label, cp in self._pending:
            if not self._key.verify(cp):
                self.report.add(
                    Problem("checkpoint", f"checkpoint {label} (size {cp.tree_size}) has a "
                            "signature that does not verify with the audit public key")
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

    def _check_row(
        self, row: EventRow, expected: int, prev_leaf: bytes | None, prev_seq: int
    ) -> bytes:
        entry = row.entry.encode() if isinstance(row.entry, str) else bytes(row.entry)
        computed = leaf_hash(entry)
        if row.position != expected:
            if row.position > expected:
                self._add("deleted", f"events at positions {expected}..{row.position - 1} are "
                          f"missing (deleted) before event {row.id}", expected, row.id)
            else:
                self._add("inserted", f"event {row.id} repeats position {row.position}",
                          row.position, row.id)
            return computed
        if row.seq <= prev_seq:
            self._add("reordered", f"event {row.id} at position {row.position} was stored "
                      "before the event preceding it (rows swapped or reordered)",
                      row.position, row.id)
            return computed
        if bytes(row.leaf_hash) != computed:
            self._add("modified", f"event {row.id}: its entry no longer hashes to its "
                      "recorded leaf hash (entry or hash modified)", row.position, row.id)
            return computed
        try:
            doc = orjson.loads(entry)
            chained_pos, chained_prev = doc["position"], doc["prev"]
            mismatch = _columns_disagree(row, doc)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            self._add("modified", f"event {row.id}: its entry is not a valid audit entry",
                      row.position, row.id)
            return computed
        if chained_pos != row.position:
            self._add("reordered", f"event {row.id} was hashed at position {chained_pos} "
                      f"but is stored at {row.position}", row.position, row.id)
        elif chained_prev != (prev_leaf.hex() if prev_leaf else GENESIS):
            # Positions and seq are in order, so the predecessor was rewritten together
            # with its leaf hash (or this entry's link was): name the earlier event.
            self._add("modified", f"event {self._prev_id or '(pruned)'} at position "
                      f"{row.position - 1} was rewritten: event {row.id} chains to a "
                      "different hash", row.position - 1, self._prev_id)
        elif mismatch:
            self._add("modified", f"event {row.id}: stored column {mismatch!r} differs from "
                      "the hashed entry", row.position, row.id)
        return computed

    def _add(self, kind: str, message: str, position: int, event_id: str | None) -> None:
        self.report.add(Problem(kind, message, position, event_id))

    def _check_tail(self, size: int, recorded_size: int | None) -> None:
        for label, cp in self._pending:
            self.report.add(
                Problem("truncated", f"checkpoint {label} covers {cp.tree_size} events but "
                        f"only {size} exist: events from position {size} onward were deleted",
                        position=size)
            )
        self._pending = []
        if recorded_size is not None and recorded_size != size:
            self.report.add(
                Problem("truncated" if recorded_size > size else "inserted",
                        f"the log head records {recorded_size} events but {size} are stored",
                        position=min(size, recorded_size))
            )
