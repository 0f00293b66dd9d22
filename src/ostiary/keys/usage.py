"""Last use of each key (time, IP, user agent) kept in memory and flushed in batches.

Recording a use is two dict stores: no database write per request. A background task
drains the dirty set every few seconds and writes it in one transaction (or publishes it
to Redis); ``last_seen`` answers the idle-expiry check between flushes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Use:
    at: datetime
    ip: str | None
    agent: str | None
    networks: frozenset[str] = field(default_factory=frozenset)


class UsageTracker:
    def __init__(self) -> None:
        self._dirty: dict[str, Use] = {}
        self._latest: dict[str, datetime] = {}
        self._new_networks: dict[str, set[str]] = {}

    def record(self, key_id: str, at: datetime, ip: str | None, agent: str | None) -> None:
        self._dirty[key_id] = Use(at, ip, agent)
        self._latest[key_id] = at

    def learn_network(self, key_id: str, network: str) -> None:
        self._new_networks.setdefault(key_id, set()).add(network)

    def last_seen(self, key_id: str) -> datetime | None:
        return self._latest.get(key_id)

    def drain(self) -> dict[str, Use]:
        """Swap out what accumulated since the last drain (atomic under the GIL)."""
        dirty, self._dirty = self._dirty, {}
        nets, self._new_networks = self._new_networks, {}
        out = dict(dirty)
        for key_id, learned in nets.items():
            use = out.get(key_id)
            if use is not None:
                out[key_id] = Use(use.at, use.ip, use.agent, frozenset(learned))
        return out

    def pending(self) -> int:
        return len(self._dirty)
