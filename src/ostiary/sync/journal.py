"""The state journal: an append-only, fsync'd JSON-lines file per target under a state dir.

Before a create the agent writes an ``intent``; after the server answers it writes the
resource id. A run killed at any point leaves a journal that tells the next run which
target ids are its own, so matching (journal id, then externalId, then userName) finds the
half-finished work instead of creating it twice. A torn last line (kill -9 mid-write) is
ignored. A finished run compacts the file to a snapshot (write, fsync, rename).

``seen`` entries are a cache, not state: user key -> (target id, hash of the desired
values compared, the target's ``meta.version`` once it was known to hold them). A re-sync
skips comparing a user whose hash and version are both unchanged (see sync/remote.py);
losing one only costs a comparison.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

# Create outcomes per journal write (see Journal.append_lazy): a kill -9 forgets at most
# this many ids, each found again by one filter on the next run.
LAZY_BATCH = 256


def journal_path(state_dir: Path, target_url: str) -> Path:
    digest = hashlib.sha256(target_url.encode()).hexdigest()[:16]
    return state_dir / f"journal-{digest}.jsonl"


@dataclass
class Journal:
    path: Path
    users: dict[str, str] = field(default_factory=dict)  # key -> target id
    groups: dict[str, str] = field(default_factory=dict)  # name -> target id
    pending: set[str] = field(default_factory=set)  # intents without an outcome
    watermark: str | None = None
    seen: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # key -> id, hash, v
    interrupted: bool = False  # the last run began and never finished
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _sync_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _local: threading.local = field(default_factory=threading.local, repr=False)
    _written: int = field(default=0, repr=False)
    _lazy: list[dict[str, Any]] = field(default_factory=list, repr=False)
    _synced: int = field(default=0, repr=False)

    @classmethod
    def open(cls, state_dir: Path, target_url: str) -> Journal:
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        journal = cls(journal_path(state_dir, target_url))
        if journal.path.exists():
            for line in journal.path.read_text().splitlines():
                try:
                    journal._replay(orjson.loads(line))
                except (ValueError, KeyError, TypeError):
                    continue  # a torn final line from a killed writer
        return journal

    def _replay(self, e: dict[str, Any]) -> None:
        t = e["t"]
        if t == "begin":
            self.interrupted = True
        elif t == "end":
            self.interrupted = False
        elif t == "intent":
            self.pending.add(e["key"])
        elif t == "user":
            self.users[e["key"]] = e["id"]
            self.pending.discard(e["key"])
        elif t == "seen":
            self.seen[e["key"]] = (e["id"], e["h"], e["v"])
        elif t == "forget":
            self.users.pop(e["key"], None)
            self.seen.pop(e["key"], None)
        elif t == "group":
            self.groups[e["name"]] = e["id"]
        elif t == "ungroup":
            self.groups.pop(e["name"], None)
        elif t == "watermark":
            self.watermark = e["value"]

    def append(self, *entries: dict[str, Any]) -> None:
        """Write entries and fsync before returning: once this returns, they survive a crash.

        Appenders share fsyncs (group commit): each one writes under the lock, then one
        fsync covers every write made before it, so 4 workers recording creates wait for
        about one fsync each instead of queueing for one apiece (an fsync was ~2 ms here:
        100,000 creates spent minutes in them). Inside :meth:`deferred` the entries wait
        for the end of the block."""
        if not entries:
            return
        held = getattr(self._local, "held", None)
        if held is not None:
            held.extend(entries)
            return
        with self.lock:
            for e in entries:
                self._replay(e)
        self._write(list(entries))

    def _write(self, entries: list[dict[str, Any]]) -> None:
        if not entries:
            return
        data = b"".join(orjson.dumps(e) + b"\n" for e in entries)
        with self.lock:  # workers of the apply pool share one journal
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
            self._written += 1
            ticket = self._written
        with self._sync_lock:
            if self._synced >= ticket:
                return  # another appender's fsync came after our write
            upto = self._written  # every write counted here has completed
            fd = os.open(self.path, os.O_RDONLY)  # fsync flushes the file, whoever wrote
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            self._synced = upto

    def append_lazy(self, *entries: dict[str, Any]) -> None:
        """Record entries now (in memory) and write them with the next LAZY_BATCH-th one or
        :meth:`flush`: one write and fsync per batch instead of one per create. Only for
        what the next run recovers without the journal: a created user whose id was lost
        is matched by externalId/userName (sync/plan.py), a lost ``seen`` costs a compare."""
        with self.lock:
            for e in entries:
                self._replay(e)
            self._lazy.extend(entries)
            if len(self._lazy) < LAZY_BATCH:
                return
            batch, self._lazy = self._lazy, []
        self._write(batch)

    def flush(self) -> None:
        with self.lock:
            batch, self._lazy = self._lazy, []
        self._write(batch)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """This thread's appends in the block become one write and one fsync at its end
        (the outcomes of one Bulk response). A crash inside the block loses only entries
        the next run recovers anyway: a created user is matched by externalId/userName."""
        held: list[dict[str, Any]] = []
        self._local.held = held
        try:
            yield
        finally:
            self._local.held = None
            self.append(*held)

    def compact(self) -> None:
        """Rewrite as a snapshot of what is known (atomic: temp file, fsync, rename)."""
        self._lazy = []  # in the snapshot
        lines = [{"t": "user", "key": k, "id": v} for k, v in sorted(self.users.items())]
        lines += [
            {"t": "seen", "key": k, "id": i, "h": h, "v": v}
            for k, (i, h, v) in sorted(self.seen.items())
        ]
        lines += [{"t": "group", "name": k, "id": v} for k, v in sorted(self.groups.items())]
        if self.watermark:
            lines.append({"t": "watermark", "value": self.watermark})
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"".join(orjson.dumps(e) + b"\n" for e in lines))
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        dir_fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self.pending.clear()
        self.interrupted = False
