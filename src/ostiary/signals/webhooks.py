"""Signed webhooks in the Standard Webhooks format (the scheme Svix and others use).

Headers: ``webhook-id`` (stable across retries, so receivers can drop duplicates),
``webhook-timestamp`` (seconds), ``webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">``. Receivers verify in constant time and reject stale timestamps.
"""

from __future__ import annotations

import base64
from datetime import datetime

from ostiary.core.crypto.hashing import constant_time_equal, hmac_sha256

TOLERANCE_SECONDS = 300


def signature(secret: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    mac = hmac_sha256(secret, f"{msg_id}.{timestamp}.".encode() + body)
    return "v1," + base64.b64encode(mac).decode()


def headers(secret: bytes, msg_id: str, now: datetime, body: bytes) -> dict[str, str]:
    ts = int(now.timestamp())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature(secret, msg_id, ts, body),
        "content-type": "application/json",
    }


def verify(secret: bytes, received: dict[str, str], body: bytes, now: datetime) -> bool:
    """Receiver side: true when one of the signatures matches and the time is fresh."""
    try:
        msg_id = received["webhook-id"]
        ts = int(received["webhook-timestamp"])
        offered = received["webhook-signature"].split()
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - ts) > TOLERANCE_SECONDS:
        return False
    expected = signature(secret, msg_id, ts, body)
    return any(constant_time_equal(expected, sig) for sig in offered)
