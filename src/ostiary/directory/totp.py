"""One-time passwords for the second sign-in factor: HOTP (RFC 4226) and TOTP (RFC 6238).

The profile is the one every authenticator app understands: HMAC-SHA-1, 6 digits, a 30 s
time step from the Unix epoch (RFC 6238 section 4), and secrets of 160 bits (RFC 4226
section 4, requirement R6). Verification accepts the current step and one step either side
(RFC 6238 section 5.2: clock drift and the time a person takes to type), and returns the
matched step so the caller can refuse any step at or before the last one it accepted (RFC
6238 section 5.2: "the verifier MUST NOT accept the second attempt of the same OTP").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from urllib.parse import quote, urlencode

DIGITS = 6
STEP = 30
WINDOW = 1
SECRET_BYTES = 20


def hotp(secret: bytes, counter: int, digits: int = DIGITS, digest: str = "sha1") -> str:
    """RFC 4226 section 5.3: HMAC over the 8-byte counter, dynamic truncation, modulo."""
    mac = hmac.new(secret, struct.pack(">Q", counter), getattr(hashlib, digest)).digest()
    offset = mac[-1] & 0x0F
    binary = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(binary % 10**digits).zfill(digits)


def step_at(unix_time: float, step: int = STEP) -> int:
    """RFC 6238 section 4.2: T = floor((time - T0) / X) with T0 = 0."""
    return int(unix_time // step)


def totp(
    secret: bytes, unix_time: float, digits: int = DIGITS, digest: str = "sha1", step: int = STEP
) -> str:
    return hotp(secret, step_at(unix_time, step), digits, digest)


def verify(secret: bytes, code: str, unix_time: float, last_step: int | None) -> int | None:
    """The step ``code`` matches within the window and after ``last_step``, else None.

    Every candidate is compared (constant time, no early exit), so the answer's timing does
    not tell which step matched or whether the code had the right shape."""
    code = code.strip().replace(" ", "")
    wanted = code.encode() if len(code) == DIGITS and code.isascii() else b"\0" * DIGITS
    now = step_at(unix_time)
    matched = None
    for candidate in range(now - WINDOW, now + WINDOW + 1):
        equal = hmac.compare_digest(hotp(secret, candidate).encode(), wanted)
        if equal and code.isdigit() and (last_step is None or candidate > last_step):
            matched = candidate
    return matched


def new_secret() -> bytes:
    return secrets.token_bytes(SECRET_BYTES)


def to_base32(secret: bytes) -> str:
    """The secret as authenticator apps take it typed in: base32 without padding."""
    return base64.b32encode(secret).decode("ascii").rstrip("=")


def from_base32(text: str) -> bytes:
    cleaned = text.replace(" ", "").upper()
    return base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))


def otpauth_uri(secret: bytes, account: str, issuer: str) -> str:
    """The ``otpauth://totp/`` key URI authenticator apps import (Google Authenticator's
    Key Uri Format): label ``issuer:account``, parameters naming this module's profile."""
    label = quote(f"{issuer}:{account}", safe=":@")
    params = {
        "secret": to_base32(secret),
        "issuer": issuer,
        "algorithm": "SHA1",
        "digits": str(DIGITS),
        "period": str(STEP),
    }
    return f"otpauth://totp/{label}?{urlencode(params, quote_via=quote)}"
