"""GCRA rate limiting (the generic cell rate algorithm, a token bucket kept as one time).

Per limited thing we keep only its *theoretical arrival time* (TAT). With emission
interval ``T = 1/rate`` and tolerance ``tau = T * burst``, a request at ``now`` is allowed
when ``max(TAT, now) + T - tau <= now``; then TAT advances by ``T``. The in-process
backend lives here; the Redis backend (same arithmetic in one Lua script, atomic across
nodes) lives in the web layer.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from ostiary.core.clock import Clock


@dataclass(frozen=True)
class Rate:
    per_second: float
    burst: int

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    @property
    def tolerance(self) -> float:
        return self.interval * self.burst


class Decision(NamedTuple):
    """Immutable like the frozen dataclass it was; a tuple because four are made per SCIM
    request and a frozen dataclass's ``__init__`` (five ``object.__setattr__``) cost more
    than the GCRA arithmetic."""

    allowed: bool
    limit: int
    remaining: int
    retry_after: float  # seconds until one request would be allowed (0 when allowed)
    reset_after: float  # seconds until the bucket is full again


def gcra(tat: float | None, now: float, rate: Rate, consume: bool) -> tuple[Decision, float]:
    """One step of GCRA. Returns the decision and the TAT to store."""
    t, tau = rate.interval, rate.tolerance
    base = max(tat if tat is not None else now, now)
    new_tat = base + t
    allow_at = new_tat - tau
    if now < allow_at - 1e-9:
        reset = max(base - now, 0.0)
        return Decision(False, rate.burst, 0, allow_at - now, reset), base
    stored = new_tat if consume else base
    remaining = max(math.floor((tau - (new_tat - now)) / t + 1e-9), 0)
    return Decision(True, rate.burst, remaining, 0.0, max(stored - now, 0.0)), stored


class Limiter(Protocol):
    def hit(self, key: str, rate: Rate, consume: bool = True) -> Decision: ...


class MemoryLimiter:
    """In-process GCRA: one dict of TATs under a lock, pruned when it grows large (an
    expired TAT is equivalent to a full bucket, so dropping it changes nothing)."""

    def __init__(self, clock: Clock, max_entries: int = 100_000) -> None:
        self._clock = clock
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def hit(self, key: str, rate: Rate, consume: bool = True) -> Decision:
        if not consume and key not in self._tats:  # a peek at a full bucket: no lock
            return Decision(True, rate.burst, rate.burst - 1, 0.0, 0.0)
        now = self._clock.monotonic()
        with self._lock:
            decision, tat = gcra(self._tats.get(key), now, rate, consume)
            if tat > now:
                self._tats[key] = tat
            else:
                self._tats.pop(key, None)
            if len(self._tats) > self._max:
                self._prune(now)
        return decision

    def _prune(self, now: float) -> None:
        for k in [k for k, v in self._tats.items() if v <= now]:
            del self._tats[k]
        while len(self._tats) > self._max:  # still full of live entries: drop the oldest
            self._tats.pop(next(iter(self._tats)))
