"""Identifiers.

Resource ids are UUIDv7-shaped (time-ordered, so B-tree inserts stay local and keyset
paging by id follows creation order) rendered as canonical lowercase UUID strings.
"""

from __future__ import annotations

import os
import secrets
import time

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def new_id() -> str:
    """A UUIDv7 (RFC 9562 section 5.7) string."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((rand >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand & ((1 << 62) - 1)
    # str(uuid.UUID(int=value)), without UUID's validation (a few microseconds per id;
    # every create and every audit event takes one).
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


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
