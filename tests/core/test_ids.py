"""Resource and event ids are UUIDv7 (RFC 9562 section 5.7) in canonical form."""

from __future__ import annotations

import time
import uuid

from ostiary.core.ids import new_id


def test_new_id_is_a_canonical_uuidv7_with_the_current_time() -> None:
    """RFC 9562 section 5.7: 48-bit Unix milliseconds, version 7, variant 10; the string
    is exactly what ``uuid.UUID`` renders (lowercase, 8-4-4-4-12)."""
    before = time.time_ns() // 1_000_000
    ids = [new_id() for _ in range(2000)]
    after = time.time_ns() // 1_000_000
    assert len(set(ids)) == len(ids)
    for text in ids:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122
        assert before <= parsed.int >> 80 <= after
