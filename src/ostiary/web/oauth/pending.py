"""The half-signed-in state between a right password and the one-time code.

It is not a session: it lives only in its own cookie (``ostiary_mfa``, Path=/login,
HttpOnly, SameSite=Strict), sealed by the vault (AES-256-GCM, context ``pending_login``)
so it can be neither read nor forged, and it expires after five minutes. Nothing but the
second-factor page reads it; :func:`ostiary.web.oauth.login.current_session` never does, so
``/authorize`` still sees a signed-out browser. It is stateless, so any node can finish a
sign-in another node started.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import orjson

from ostiary.core.crypto.vault import Vault
from ostiary.core.errors import OstiaryError

COOKIE = "ostiary_mfa"
PATH = "/login"
LIFETIME = timedelta(minutes=5)
_CONTEXT = "pending_login"


@dataclass(frozen=True)
class Pending:
    user_id: str
    user_name: str
    next_url: str
    expires_at: datetime


def seal(vault: Vault, user_id: str, user_name: str, next_url: str, now: datetime) -> str:
    doc = {"u": user_id, "n": user_name, "next": next_url, "exp": (now + LIFETIME).timestamp()}
    return vault.seal(orjson.dumps(doc), _CONTEXT)


def open_(vault: Vault, value: str | None, now: datetime) -> Pending | None:
    """The pending sign-in in ``value`` if it is authentic and unexpired, else None."""
    if not value or len(value) > 4096:
        return None
    try:
        doc = orjson.loads(vault.open(value, _CONTEXT))
        expires = datetime.fromtimestamp(float(doc["exp"]), tz=now.tzinfo)
        pending = Pending(str(doc["u"]), str(doc["n"]), str(doc["next"]), expires)
    except (OstiaryError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        return None  # forged, truncated or sealed under a data key this node cannot open
    return pending if now < pending.expires_at else None
