"""Identifiers.

Resource ids are UUIDv7-shaped (time-ordered, so B-tree inserts stay local and keyset
paging by id follows creation order) rendered as canonical lowercase UUID strings.
"""

from __future__ import annotations

import itertools
import os
import secrets
import time

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


# The variant character: RFC 9562's variant bits 10 and two random bits, i.e. one of
# "89ab", chosen by the low two bits of a random hex digit (uniform: 16 = 4 x 4).
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}
# The last millisecond and its id prefix "tttttttt-tttt-7": most ids of a busy process
# share the millisecond of the one before, and the prefix costs a third of an id. One
# tuple, replaced whole, so a thread never reads a millisecond with another's prefix.
_LAST_MS: tuple[int, str] = (-1, "")


def new_id() -> str:
    """A UUIDv7 (RFC 9562 section 5.7) string: 48-bit Unix milliseconds, the version
    nibble 7, 12 random bits, the variant bits 10, 62 random bits."""
    # Spelled as text (a cached time prefix, then hex slices of 10 random bytes), not as
    # 16 bytes hex-formatted with the bits set: every create and every audit event takes
    # one, and this costs ~7,000 instructions against ~10,700 (docs/performance.md,
    # session 10). The random hex digits used: 3 (12 bits), 1 (2 bits of the variant
    # character), 3 + 12 (60 bits): 74 random bits as before.
    global _LAST_MS
    ms = time.time_ns() // 1_000_000
    last = _LAST_MS  # one read: another thread may replace it meanwhile
    if last[0] != ms:
        h = f"{ms:012x}"
        last = _LAST_MS = (ms, f"{h[:8]}-{h[8:]}-7")
    r = os.urandom(10).hex()
    return f"{last[1]}{r[:3]}-{_VARIANT[r[3]]}{r[4:7]}-{r[7:19]}"


def new_event_id() -> str:
    """A UUIDv8 (RFC 9562 section 5.8) for an audit event: 62 bits drawn once per
    process (with the version and variant bits), then a 48-bit counter that starts at a
    random value. Unique and increasing within a process (so the id index takes its
    inserts at one place per process), unique across processes but for a ~2^-62 chance
    per pair (the counters would have to meet too). Not unguessable, which an event id
    need not be: nothing is authorised by one, and the event carries its own time. Every
    audited write makes one: no system call and no millisecond prefix to format (a
    process serving ~1,000 writes a second is at a new millisecond at nearly every id:
    :func:`new_id` costs ~6,900 instructions, this ~2,900; docs/performance.md, session
    12)."""
    # hex() of the counter with a 49th bit set, less "0x1": its 12 digits, cheaper than a
    # format specification (spelled out here, as in _counter_text, to save a call).
    return _EVENT[0] + hex(next(_EVENT[1]) & _LOW48 | _BIT48)[3:]


def _counter_text(n: int) -> str:
    """The last group of an event id for counter value ``n``."""
    return hex(n & _LOW48 | _BIT48)[3:]


_LOW48 = (1 << 48) - 1
_BIT48 = 1 << 48


def _event_ids() -> tuple[str, itertools.count[int]]:
    """This process's fixed "xxxxxxxx-xxxx-8xxx-vxxx-" (the version 8, the variant bits
    10) and its counter, from a random 47-bit value (so it never wraps in practice)."""
    return _event_ids_from(os.urandom(16))


def _event_ids_from(random: bytes) -> tuple[str, itertools.count[int]]:
    r = random.hex()
    fixed = f"{r[:8]}-{r[8:12]}-8{r[12:15]}-{_VARIANT[r[15]]}{r[16:19]}-"
    return fixed, itertools.count(int(r[19:31], 16) >> 1)


_EVENT = _event_ids()


def _reseed_event_ids() -> None:
    global _EVENT
    _EVENT = _event_ids()


# A forked worker must not repeat its parent's ids.
os.register_at_fork(after_in_child=_reseed_event_ids)


def random_base62(length: int) -> str:
    """A uniformly random base62 string (``secrets.choice`` has no modulo bias)."""
    return "".join(secrets.choice(BASE62) for _ in range(length))


def base62_encode(number: int, width: int) -> str:
    """Fixed-width base62 of a non-negative integer (left-padded with '0')."""
    if number < 0:
        raise ValueError("negative")
    digits = []
    while number:
        number, rem = divmod(number, 62)
        digits.append(BASE62[rem])
    text = "".join(reversed(digits)) or "0"
    if len(text) > width:
        raise ValueError("number too large for width")
    return text.rjust(width, "0")


def is_base62(text: str) -> bool:
    return all(c in BASE62 for c in text)
