"""GCRA rate limiting on both backends (issue 4 point 7): in-process and Redis (Lua)."""

from __future__ import annotations

import uuid

import pytest

from ostiary.core.clock import FrozenClock
from ostiary.keys.ratelimit import MemoryLimiter, Rate
from tests.support.services import require_redis


def test_memory_gcra_allows_the_burst_then_paces_at_the_rate():
    clock = FrozenClock()
    limiter = MemoryLimiter(clock)
    rate = Rate(per_second=25, burst=5)
    decisions = [limiter.hit("k", rate) for _ in range(6)]
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions[:5]] == [4, 3, 2, 1, 0]
    assert decisions[5].retry_after == pytest.approx(0.04)
    clock.advance(0.04)
    assert limiter.hit("k", rate).allowed
    assert not limiter.hit("k", rate).allowed
    clock.advance(1.0)  # a full bucket again
    assert sum(limiter.hit("k", rate).allowed for _ in range(10)) == 5


def test_memory_gcra_sustains_at_least_25_per_second_per_source():
    """Entra's requirement: a source may send 25 requests per second indefinitely."""
    clock = FrozenClock()
    limiter = MemoryLimiter(clock)
    rate = Rate(per_second=50, burst=100)
    allowed = 0
    for _ in range(25 * 60):  # one minute at 25/s
        allowed += limiter.hit("src", rate).allowed
        clock.advance(1 / 25)
    assert allowed == 25 * 60


def test_peek_does_not_consume():
    limiter = MemoryLimiter(FrozenClock())
    rate = Rate(per_second=1, burst=2)
    for _ in range(5):
        assert limiter.hit("k", rate, consume=False).allowed
    assert limiter.hit("k", rate).allowed and limiter.hit("k", rate).allowed
    assert not limiter.hit("k", rate, consume=False).allowed


def test_memory_is_bounded_under_a_flood_of_distinct_keys():
    limiter = MemoryLimiter(FrozenClock(), max_entries=1000)
    for i in range(5000):
        limiter.hit(f"fail-key:{i}", Rate(0.1, 5))
    assert len(limiter._tats) <= 1000


@pytest.mark.redis
def test_redis_gcra_is_shared_and_atomic():
    """Two limiter instances (two nodes) share one bucket in Redis."""
    from ostiary.web.keys.shared import RedisLimiter, connect

    url = require_redis()
    client = connect(url)
    prefix = f"ostiary-test-{uuid.uuid4().hex}:"
    try:
        fallback = MemoryLimiter(FrozenClock())
        a = RedisLimiter(client, prefix, fallback)
        b = RedisLimiter(client, prefix, fallback)
        rate = Rate(per_second=1, burst=4)
        results = [(a if i % 2 else b).hit("ip:1", rate) for i in range(6)]
        assert [r.allowed for r in results] == [True, True, True, True, False, False]
        assert results[0].remaining == 3
        assert 0 < results[4].retry_after <= 1.0
        assert results[4].reset_after > 0
        assert not a.hit("ip:1", rate, consume=False).allowed
        assert a.hit("ip:2", rate).allowed  # another source is unaffected
        assert not fallback._tats  # Redis answered; the fallback was never used
    finally:
        for key in client.scan_iter(f"{prefix}*"):
            client.delete(key)
        client.close()
