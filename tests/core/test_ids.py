"""Resource ids are UUIDv7 (RFC 9562 section 5.7), audit event ids UUIDv8 (section 5.8), in
canonical form."""

from __future__ import annotations

import itertools
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ostiary.core import ids
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


# Hypothesis drives the clock and the random bytes through the real ``new_id`` (only the
# outside world, time and the OS's randomness, is replaced), so the text-built id can be
# checked against the RFC's bit layout as ``uuid.UUID`` reads it.
MS = st.integers(min_value=0, max_value=2**48 - 1)
RANDOM = st.binary(min_size=10, max_size=10)


def _id_at(monkeypatch: pytest.MonkeyPatch, ms: int, random: bytes) -> str:
    with monkeypatch.context() as m:
        m.setattr(ids.time, "time_ns", lambda: ms * 1_000_000 + 999_999)
        m.setattr(ids.os, "urandom", lambda n: random[:n])
        return new_id()


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ms=MS, random=RANDOM)
def test_new_id_layout_for_any_time_and_randomness(
    monkeypatch: pytest.MonkeyPatch, ms: int, random: bytes
) -> None:
    """RFC 9562 section 5.7 for every millisecond and random input: canonical text,
    version 7, variant 10, the millisecond in the top 48 bits, and 74 random bits taken
    from the random bytes (12 after the version, 2 in the variant character, 60 after)."""
    text = _id_at(monkeypatch, ms, random)
    parsed = uuid.UUID(text)
    assert str(parsed) == text
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == ms
    r = random.hex()
    assert text[15:18] == r[:3]
    assert text[19] == "89ab"[int(r[3], 16) & 3]
    assert (text[20:23], text[24:]) == (r[4:7], r[7:19])


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(times=st.lists(st.tuples(MS, RANDOM), min_size=2, max_size=6))
def test_new_ids_sort_by_millisecond_whatever_the_clock_did(
    monkeypatch: pytest.MonkeyPatch, times: list[tuple[int, bytes]]
) -> None:
    """Ids sort as their milliseconds do (keyset paging follows creation order), also when
    the clock repeats a millisecond or steps back: the cached prefix is the current
    millisecond's, never the previous id's."""
    made = [(ms, _id_at(monkeypatch, ms, random)) for ms, random in times]
    for (ms_a, a), (ms_b, b) in itertools.pairwise(made):
        assert uuid.UUID(a).int >> 80 == ms_a
        if ms_a < ms_b:
            assert a < b
        elif ms_a > ms_b:
            assert a > b


def test_event_ids_are_canonical_uuidv8_unique_and_increasing() -> None:
    """RFC 9562 section 5.8 (custom layout): version 8, variant 10, canonical text; a
    process's ids share its random 62 bits and count up in the last 48."""
    made = [ids.new_event_id() for _ in range(5000)]
    assert len(set(made)) == len(made)
    assert made == sorted(made)
    for text in made[:500]:
        parsed = uuid.UUID(text)
        assert str(parsed) == text
        assert parsed.version == 8
        assert parsed.variant == uuid.RFC_4122
    assert {text[:24] for text in made} == {made[0][:24]}
    assert int(made[1][24:], 16) == int(made[0][24:], 16) + 1


def test_a_forked_process_makes_other_event_ids() -> None:
    """A forked worker draws its own random part: it never repeats its parent's ids."""
    import os

    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report one id and leave without running pytest's teardown
        os.write(write, ids.new_event_id().encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    parent = ids.new_event_id()
    assert uuid.UUID(child).version == 8
    assert child[:24] != parent[:24]


@given(
    start=st.integers(min_value=0, max_value=2**47 - 1), random=st.binary(min_size=16, max_size=16)
)
def test_event_id_layout_for_any_randomness(start: int, random: bytes) -> None:
    """The fixed part holds 62 of the drawn bits around the version and variant, the
    counter's 12 hex digits follow; past 2**48 the counter would wrap, never overflow."""
    fixed, counter = ids._event_ids_from(random)
    assert next(counter) == int(random.hex()[19:31], 16) >> 1 < 2**47
    text = fixed + ids._counter_text(start)
    parsed = uuid.UUID(text)
    assert str(parsed) == text and parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert parsed.int & (2**48 - 1) == start
    assert ids._counter_text(2**48 + 5) == ids._counter_text(5)
