"""The transactional outbox: messages written in the same transaction as the change that
caused them, delivered afterwards by a worker, at least once.

This module holds the pure parts: the message record and the retry schedule.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"  # gave up: visible in the admin API and metrics, retryable by hand


@dataclass(frozen=True)
class OutboxMessage:
    id: str
    topic: str  # which sender delivers it: "webhook", "backchannel_logout", "ssf.push", ...
    destination: str  # the sender's address for it: an endpoint id, a client id, a stream id
    payload: dict[str, Any]
    attempts: int = 0
    status: Status = Status.PENDING
    created_at: datetime | None = None
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with "equal jitter": a delay drawn from [c/2, c] where
    c = min(cap, base * 2^(attempts-1)), so retries spread out but never bunch at zero."""

    base: timedelta = timedelta(seconds=2)
    cap: timedelta = timedelta(hours=1)
    max_attempts: int = 12

    def next_attempt(
        self, attempts: int, now: datetime, rng: random.Random | None = None
    ) -> datetime | None:
        """When to try again after ``attempts`` failures; ``None`` means dead-letter."""
        if attempts >= self.max_attempts:
            return None
        ceiling = min(self.cap.total_seconds(), self.base.total_seconds() * 2 ** (attempts - 1))
        delay = (rng or random).uniform(ceiling / 2, ceiling)
        return now + timedelta(seconds=delay)
