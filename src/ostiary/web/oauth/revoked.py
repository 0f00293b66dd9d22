"""The revocation set every node consults (issue 7 points 1 and 3), cheaply.

Revoked access-token ``jti``s live in the database (``oidc_revoked_tokens``, written in
the transaction that revokes them). Asking the database on every request would put a
read on the hot path of UserInfo, introspection and SCIM, so with ``OSTIARY_REDIS_URL``
each node keeps the set in memory and Redis carries one **generation counter**:

- a node that commits a revocation increments the counter right after the commit
  (``Database.on_commit``);
- on every check a node reads the counter (one ``GET``, no database); when it moved, the
  node reads the rows revoked since its last load before answering;
- whatever the counter says, a node re-reads the recent rows at least every
  ``MAX_STALE_SECONDS``, so a lost increment (a crash between commit and ``INCR``)
  leaves a stale "not revoked" for at most that long.

Redis unreachable: each check reads the database (fail safe, never "not revoked" from a
copy that cannot be known fresh). Without Redis there is no copy at all: every check is
one indexed read, which is correct for any number of nodes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import redis

from ostiary.store.db import Database
from ostiary.store.repositories.revocations import TOPIC, RevocationRepository
from ostiary.web.logs import get_logger

log = get_logger("ostiary.revocations")

MAX_STALE_SECONDS = 1.0
# Rows are re-read from this far before the last load: a revocation's ``revoked_at`` is
# taken when its transaction starts, which may be before a concurrent load, and node
# clocks may differ a little.
OVERLAP = timedelta(seconds=30)
PRUNE_SECONDS = 60.0


class RevocationSet(Protocol):
    def is_revoked(self, jti: object) -> bool: ...


class DbRevocations:
    """One indexed read per check: the default, and the fallback."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def is_revoked(self, jti: object) -> bool:
        if not isinstance(jti, str):
            return True  # a token without a jti cannot be checked: refuse it
        with self._db.read() as conn:
            return RevocationRepository(conn).is_revoked(jti)


class SharedRevocations:
    """An in-memory copy kept fresh by a Redis generation counter (see the module doc)."""

    def __init__(
        self,
        db: Database,
        client: Any,
        prefix: str,
        wall: Callable[[], datetime],
        monotonic: Callable[[], float] = time.monotonic,
        max_stale: float = MAX_STALE_SECONDS,
    ) -> None:
        self._db = db
        self._redis = client
        self._key = f"{prefix}revocations:generation"
        self._wall = wall
        self._mono = monotonic
        self._max_stale = max_stale
        self._fallback = DbRevocations(db)
        self._lock = threading.Lock()
        self._jtis: dict[str, datetime] = {}
        self._generation: bytes | None = None
        self._loaded_at: datetime | None = None
        self._synced = float("-inf")
        self._next_prune = 0.0

    def is_revoked(self, jti: object) -> bool:
        if not isinstance(jti, str):
            return True
        try:
            generation = self._redis.get(self._key)
        except redis.RedisError as exc:
            log.warning("revocations.redis_unavailable", error=type(exc).__name__)
            return self._fallback.is_revoked(jti)
        with self._lock:
            stale = self._mono() - self._synced >= self._max_stale
            if stale or generation != self._generation:
                self._sync(generation)
            return jti in self._jtis

    def published(self) -> None:
        """After a commit that revoked tokens: make every node re-read (Redis INCR)."""
        try:
            self._redis.incr(self._key)
        except redis.RedisError as exc:
            # The other nodes still catch up within MAX_STALE_SECONDS.
            log.warning("revocations.publish_failed", error=type(exc).__name__)

    def _sync(self, generation: bytes | None) -> None:
        started = self._wall()
        since = None if self._loaded_at is None else self._loaded_at - OVERLAP
        with self._db.read() as conn:
            rows = RevocationRepository(conn).unexpired(started, since)
        self._jtis.update(rows)
        self._loaded_at = started
        self._generation = generation
        self._synced = self._mono()
        if self._synced >= self._next_prune:
            self._jtis = {j: exp for j, exp in self._jtis.items() if exp > started}
            self._next_prune = self._synced + PRUNE_SECONDS


def build(db: Database, redis_url: str | None, prefix: str, wall: Callable[[], datetime]) -> Any:
    """The revocation set for this process; registers the post-commit publisher."""
    if not redis_url:
        return DbRevocations(db)
    from ostiary.web.keys.shared import connect

    shared = SharedRevocations(db, connect(redis_url), prefix, wall)
    db.on_commit(TOPIC, shared.published)
    return shared
