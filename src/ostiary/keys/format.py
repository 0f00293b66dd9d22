"""The provisioning key format: ``ost_pk_<id>_<secret><checksum>``.

- ``id``: 12 base62 characters, the public lookup handle (also shown in listings);
- ``secret``: 32 base62 characters, about 190 bits from ``secrets``;
- ``checksum``: CRC32 of everything before it, 6 base62 characters.

The checksum lets a secret scanner tell a real key from a look-alike offline and lets the
server reject typos and garbage before any database read. The published pattern is
:data:`KEY_PATTERN`.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from ostiary.core.ids import base62_encode, random_base62

PREFIX = "ost_pk_"
ADMIN_PREFIX = "ost_at_"  # admin API tokens: the same machinery, another prefix
ID_LEN = 12
SECRET_LEN = 32
CHECKSUM_LEN = 6
KEY_PATTERN = r"\bost_pk_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\b"
ADMIN_TOKEN_PATTERN = r"\bost_at_[0-9A-Za-z]{12}_[0-9A-Za-z]{38}\b"
_BODY = r"_([0-9A-Za-z]{12})_([0-9A-Za-z]{32})([0-9A-Za-z]{6})"
_EXACT = {
    PREFIX: re.compile(re.escape(PREFIX[:-1]) + _BODY),
    ADMIN_PREFIX: re.compile(re.escape(ADMIN_PREFIX[:-1]) + _BODY),
}
TOKEN_LEN = len(PREFIX) + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN


@dataclass(frozen=True)
class ParsedKey:
    key_id: str
    secret: str

    def __repr__(self) -> str:  # never print the secret, even in a traceback
        return f"ParsedKey(key_id={self.key_id!r}, secret='***')"


def checksum(body: str) -> str:
    return base62_encode(zlib.crc32(body.encode("ascii")), CHECKSUM_LEN)


def new_key_id() -> str:
    return random_base62(ID_LEN)


def compose(key_id: str, secret: str, prefix: str = PREFIX) -> str:
    body = f"{prefix}{key_id}_{secret}"
    return body + checksum(body)


def generate(key_id: str | None = None, prefix: str = PREFIX) -> tuple[str, ParsedKey]:
    """A fresh key: the full token (shown once) and its parts. With ``key_id`` (rotation)
    the id stays and only the secret is new."""
    parsed = ParsedKey(key_id=key_id or new_key_id(), secret=random_base62(SECRET_LEN))
    return compose(parsed.key_id, parsed.secret, prefix), parsed


def parse(token: str, prefix: str = PREFIX) -> ParsedKey | None:
    """Shape and checksum only; no database. ``None`` means reject without a lookup."""
    if len(token) != TOKEN_LEN or not token.startswith(prefix):
        return None
    match = _EXACT[prefix].fullmatch(token)
    if match is None:
        return None
    key_id, secret, check = match.groups()
    if checksum(f"{prefix}{key_id}_{secret}") != check:
        return None
    return ParsedKey(key_id=key_id, secret=secret)


def display(key_id: str, last4: str, prefix: str = PREFIX) -> str:
    """How a key is shown after creation: prefix, id and the last four characters."""
    return f"{prefix}{key_id}_…{last4}"
