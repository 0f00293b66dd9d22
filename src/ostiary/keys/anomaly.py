"""Anomaly detection on key use, cheap enough for the hot path (O(1) per request).

Detects: a new network for a key (/24 or /64 not seen before), volume far above the key's
own baseline (per-minute counts against an exponentially weighted mean), a burst of scope
denials, use of a rotated-out, disabled or revoked key, and a deprovisioning burst (more
than a set share of all users deprovisioned in a window). Each finding is an
:class:`Anomaly` with the configured action; the web layer audits it, sends the webhook
and applies the action. The same finding for the same key is raised at most once per
``quiet`` seconds so an attack cannot flood the audit log.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from ostiary.keys.errors import PolicyViolation


class Kind(StrEnum):
    NEW_NETWORK = "new_network"
    VOLUME = "volume"
    SCOPE_DENIALS = "scope_denials"
    RETIRED_KEY_USE = "retired_key_use"
    DEPROVISION_BURST = "deprovision_burst"


class Action(StrEnum):
    ALERT = "alert"
    REQUIRE_DPOP = "require_dpop"
    SUSPEND = "suspend"
    HOLD = "hold"  # deprovisioning burst only: wait for a second administrator


@dataclass(frozen=True)
class AnomalyConfig:
    actions: dict[Kind, Action] = field(default_factory=dict)
    volume_factor: float = 10.0
    volume_floor_per_minute: int = 60
    volume_min_history: int = 5
    denial_burst: int = 10
    denial_window: float = 60.0
    deprovision_share: float = 0.10
    deprovision_min: int = 10
    deprovision_window: float = 3600.0
    quiet: float = 300.0

    def action(self, kind: Kind) -> Action:
        return self.actions.get(kind, Action.ALERT)


def parse_actions(spec: dict[str, str]) -> dict[Kind, Action]:
    out: dict[Kind, Action] = {}
    for kind, action in spec.items():
        try:
            k, a = Kind(kind), Action(action)
        except ValueError:
            raise PolicyViolation(f"unknown anomaly {kind!r} or action {action!r}") from None
        if a is Action.HOLD and k is not Kind.DEPROVISION_BURST:
            raise PolicyViolation("only a deprovisioning burst can be held for approval")
        out[k] = a
    return out


@dataclass(frozen=True)
class Anomaly:
    kind: Kind
    key_id: str
    action: Action
    detail: dict[str, Any]


@dataclass
class _KeyState:
    networks: set[str] | None = None
    minute: int = -1
    count: int = 0
    baseline: float = 0.0
    history: int = 0
    volume_flagged: int = -1
    denials: deque[float] = field(default_factory=deque)
    deprovisions: deque[tuple[float, int]] = field(default_factory=deque)


class AnomalyDetector:
    def __init__(self, config: AnomalyConfig) -> None:
        self.config = config
        self._keys: dict[str, _KeyState] = {}
        self._last_raised: dict[tuple[Kind, str], float] = {}
        self._lock = threading.Lock()

    def _state(self, key_id: str) -> _KeyState:
        st = self._keys.get(key_id)
        if st is None:
            st = self._keys[key_id] = _KeyState()
        return st

    def _raise(self, kind: Kind, key_id: str, now: float, detail: dict[str, Any]) -> Anomaly | None:
        last = self._last_raised.get((kind, key_id))
        if last is not None and now - last < self.config.quiet:
            return None
        self._last_raised[(kind, key_id)] = now
        return Anomaly(kind, key_id, self.config.action(kind), detail)

    def observe_use(
        self, key_id: str, network: str | None, known: tuple[str, ...], now: float
    ) -> tuple[list[Anomaly], bool]:
        """A successful authentication. Returns findings and whether ``network`` is new
        (to be remembered). The first network a key is ever used from is learnt quietly."""
        found: list[Anomaly] = []
        learned = False
        with self._lock:
            st = self._state(key_id)
            if st.networks is None:
                st.networks = set(known)
            if network is not None and network not in st.networks:
                if st.networks:
                    hit = self._raise(Kind.NEW_NETWORK, key_id, now, {"network": network})
                    if hit:
                        found.append(hit)
                st.networks.add(network)
                learned = True
            volume = self._count(st, key_id, now)
            if volume:
                found.append(volume)
        return found, learned

    def _count(self, st: _KeyState, key_id: str, now: float) -> Anomaly | None:
        minute = int(now // 60)
        if minute != st.minute:
            if st.minute >= 0:
                # Minutes with no traffic count as zeros in the baseline.
                for _ in range(min(minute - st.minute - 1, 60)):
                    st.baseline *= 0.8
                st.baseline = 0.8 * st.baseline + 0.2 * st.count if st.history else st.count
                st.history += 1
            st.minute, st.count = minute, 0
        st.count += 1
        c = self.config
        threshold = c.volume_factor * max(st.baseline, c.volume_floor_per_minute / c.volume_factor)
        warm = st.history >= c.volume_min_history
        if warm and st.count > threshold and st.volume_flagged != minute:
            st.volume_flagged = minute
            detail = {"per_minute": st.count, "baseline_per_minute": round(st.baseline, 1)}
            return self._raise(Kind.VOLUME, key_id, now, detail)
        return None

    def observe_denial(self, key_id: str, now: float) -> Anomaly | None:
        with self._lock:
            q = self._state(key_id).denials
            q.append(now)
            while q and q[0] <= now - self.config.denial_window:
                q.popleft()
            if len(q) >= self.config.denial_burst:
                detail = {"denials": len(q), "window_seconds": self.config.denial_window}
                return self._raise(Kind.SCOPE_DENIALS, key_id, now, detail)
        return None

    def observe_refused(self, key_id: str, reason: str, now: float) -> Anomaly | None:
        """A refused authentication with a correct secret for a retired key."""
        if reason not in {"rotated", "disabled", "revoked"}:
            return None
        with self._lock:
            return self._raise(Kind.RETIRED_KEY_USE, key_id, now, {"reason": reason})

    def check_deprovision(
        self, key_id: str, count: int, total_users: int, now: float, *, commit: bool = True
    ) -> Anomaly | None:
        """Before deprovisioning ``count`` users: would the window's total exceed the
        share? With ``commit`` the count is recorded (call with False to ask first)."""
        c = self.config
        with self._lock:
            q = self._state(key_id).deprovisions
            while q and q[0][0] <= now - c.deprovision_window:
                q.popleft()
            total = sum(n for _, n in q) + count
            if commit:
                q.append((now, count))
            share = total / total_users if total_users else 1.0
            if total >= c.deprovision_min and share > c.deprovision_share:
                detail = {"deprovisioned": total, "users": total_users, "share": round(share, 3)}
                action = c.action(Kind.DEPROVISION_BURST)
                if action is Action.HOLD:  # every held request needs its own approval
                    return Anomaly(Kind.DEPROVISION_BURST, key_id, action, detail)
                return self._raise(Kind.DEPROVISION_BURST, key_id, now, detail)
        return None

    def forget(self, key_id: str) -> None:
        with self._lock:
            self._keys.pop(key_id, None)
