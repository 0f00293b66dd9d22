"""The key record cache behind bearer verification: TTL, invalidation, negative entries
and bounded size. The reader is the real repository over SQLite, wrapped to record calls."""

from __future__ import annotations

from pathlib import Path

from ostiary.core.clock import FrozenClock
from ostiary.keys.verify import CachedKeyReader
from ostiary.web.context import DbKeyReader
from tests.support.deploy import deploy


class Recording:
    def __init__(self, inner: DbKeyReader) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def get_for_auth(self, key_id: str):  # type: ignore[no-untyped-def]
        self.calls.append(key_id)
        return self.inner.get_for_auth(key_id)


def test_ttl_invalidation_and_bounds(tmp_path: Path):
    dep = deploy(f"sqlite:///{tmp_path / 'o.db'}", tmp_path)
    try:
        clock = FrozenClock()
        reader = Recording(DbKeyReader(dep.db))
        cache = CachedKeyReader(reader, clock, ttl=5.0, max_entries=3)
        key = dep.make_key(clock=clock).record.id
        assert cache.get_for_auth(key) is not None
        assert cache.get_for_auth(key) is not None
        assert reader.calls == [key]
        clock.advance(5.1)
        cache.get_for_auth(key)
        assert reader.calls == [key, key]
        cache.invalidate(key)
        cache.get_for_auth(key)
        assert len(reader.calls) == 3
        assert cache.get_for_auth("unknown00000") is None  # misses are cached too
        assert cache.get_for_auth("unknown00000") is None
        assert reader.calls.count("unknown00000") == 1
        for i in range(10):
            cache.get_for_auth(f"flood{i:07d}")
        assert len(cache._entries) <= 3
    finally:
        dep.db.dispose()
