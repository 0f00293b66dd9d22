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
    """A UUIDv7 (RFC 9562 section 5.7) string: 48-bit Unix milliseconds, the version
    nibble 7, 12 random bits, the variant bits 10, 62 random bits."""
    # Built as 16 bytes and hex-formatted (not as a 128-bit integer, nor through
    # uuid.UUID's validation): every create and every audit event takes one.
    raw = bytearray((time.time_ns() // 1_000_000).to_bytes(6, "big"))
    raw += os.urandom(10)
    raw[6] = 0x70 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)
    h = raw.hex()
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
