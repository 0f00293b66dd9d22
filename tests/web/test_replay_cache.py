"""The jti replay cache (RFC 9449 section 11.1, RFC 7523 section 3 item 7) in-process and
shared through Redis, and stateless server nonces (RFC 9449 section 8)."""

from __future__ import annotations

import uuid

import pytest

from ostiary.oidc.dpop import HmacNonces
from ostiary.web.oauth.replay import MemoryReplayCache, RedisReplayCache, build
from tests.support.services import require_redis


class Ticker:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_memory_cache_refuses_a_second_use_until_the_ttl_passes():
    now = Ticker()
    cache = MemoryReplayCache(now)
    assert cache.first_use("a", 60)
    assert not cache.first_use("a", 60)
    assert cache.first_use("b", 60)
    now.t += 61
    assert cache.first_use("a", 60)


@pytest.mark.redis
def test_redis_cache_is_shared_between_instances():
    url = require_redis()
    import redis

    prefix = f"ostiary-test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(url)
    try:
        node_a, node_b = RedisReplayCache(client, prefix), build(url, prefix)
        assert isinstance(node_b, RedisReplayCache)
        assert node_a.first_use("jti-1", 30)
        assert not node_b.first_use("jti-1", 30)
        assert 0 < client.ttl(prefix + "jti-1") <= 30
    finally:
        for k in client.scan_iter(prefix + "*"):
            client.delete(k)
        client.close()


def test_nonces_are_valid_for_two_windows_and_bound_to_the_secret():
    now = Ticker()
    nonces = HmacNonces(b"k" * 32, now, window=300)
    other = HmacNonces(b"j" * 32, now, window=300)
    n = nonces.issue()
    assert nonces.valid(n) and not other.valid(n)
    now.t += 300
    assert nonces.valid(n)
    now.t += 300
    assert not nonces.valid(n)
    assert not nonces.valid("garbage") and not nonces.valid("99999999999999.x")


def test_signin_throttle_windows_in_memory():
    from ostiary.web.oauth.throttle import WINDOW, MemoryThrottle

    now = Ticker()
    t = MemoryThrottle(now)
    for _ in range(5):
        assert not t.blocked("ada", "10.0.0.1")
        t.failed("ada", "10.0.0.1")
    assert t.blocked("ADA", "10.0.0.1")  # usernames compare case-insensitively
    assert not t.blocked("ada", "10.0.0.2")  # per address first...
    for i in range(15):
        t.failed("ada", f"10.0.1.{i}")
    assert t.blocked("ada", "10.0.0.9")  # ...then per user, whatever the address
    now.t += WINDOW
    assert not t.blocked("ada", "10.0.0.1")


@pytest.mark.redis
def test_signin_throttle_shared_through_redis():
    from ostiary.web.oauth.throttle import RedisThrottle

    url = require_redis()
    import redis

    prefix = f"ostiary-test:{uuid.uuid4().hex}:"
    client = redis.Redis.from_url(url)
    try:
        a, b = RedisThrottle(client, prefix), RedisThrottle(client, prefix)
        for _ in range(5):
            a.failed("ada", "10.0.0.1")
        assert b.blocked("ada", "10.0.0.1") and not b.blocked("ada", "10.0.0.2")
        assert 0 < client.ttl(next(iter(client.scan_iter(prefix + "*")))) <= 900
    finally:
        for k in client.scan_iter(prefix + "*"):
            client.delete(k)
        client.close()
