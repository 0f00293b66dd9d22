"""Event types, subject identifiers and SET claims (RFC 8417, RFC 9493, SSF 1.0
sections 3-4, CAEP 1.0, RISC 1.0).

Every SET carries the primary subject in the top-level ``sub_id`` claim (SSF 1.0
section 3.1) and exactly one event in ``events`` (section 4.2.1); it never carries
``sub`` or ``exp`` (section 4.1.2, 4.1.8).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ostiary.signals.ssf.errors import InvalidEvent

CAEP = "https://schemas.openid.net/secevent/caep/event-type/"
RISC = "https://schemas.openid.net/secevent/risc/event-type/"
SSF = "https://schemas.openid.net/secevent/ssf/event-type/"

SESSION_REVOKED = CAEP + "session-revoked"
CREDENTIAL_CHANGE = CAEP + "credential-change"
ACCOUNT_DISABLED = RISC + "account-disabled"
ACCOUNT_PURGED = RISC + "account-purged"
VERIFICATION = SSF + "verification"
STREAM_UPDATED = SSF + "stream-updated"

# What a receiver may request. Verification and stream-updated are always sent
# (SSF 1.0 sections 8.1.4 and 8.1.5 allow them outside events_delivered).
SUPPORTED: tuple[str, ...] = (SESSION_REVOKED, CREDENTIAL_CHANGE, ACCOUNT_DISABLED, ACCOUNT_PURGED)
CONTROL: frozenset[str] = frozenset({VERIFICATION, STREAM_UPDATED})

INITIATING_ENTITIES = frozenset({"admin", "user", "policy", "system"})  # CAEP 1.0 section 2
CREDENTIAL_TYPES = frozenset(
    {
        "password",
        "pin",
        "x509",
        "fido2-platform",
        "fido2-roaming",
        "fido-u2f",
        "verifiable-credential",
        "phone-voice",
        "phone-sms",
        "app",
    }
)
CHANGE_TYPES = frozenset({"create", "revoke", "update", "delete"})
DISABLE_REASONS = frozenset({"hijacking", "bulk-account"})  # RISC 1.0 section 2.3

Subject = dict[str, Any]


# Subject identifiers (RFC 9493 section 3, SSF 1.0 section 3.3).
def iss_sub(iss: str, sub: str) -> Subject:
    return {"format": "iss_sub", "iss": iss, "sub": sub}


def email(address: str) -> Subject:
    return {"format": "email", "email": address}


def opaque(identifier: str) -> Subject:
    return {"format": "opaque", "id": identifier}


def complex_subject(**members: Subject) -> Subject:
    """A Complex Subject (SSF 1.0 section 3.3): ``user``, ``session``, ``device``, ..."""
    if not members:
        raise InvalidEvent("a complex subject needs at least one member")
    return {"format": "complex", **members}


def user_subject(issuer: str, user_id: str, session_id: str | None = None) -> Subject:
    """How Ostiary names its users: ``iss_sub`` with our issuer and the user's id (the
    same ``sub`` the OIDC provider puts in ID tokens); with a session, a complex subject."""
    user = iss_sub(issuer, user_id)
    if session_id is None:
        return user
    return complex_subject(user=user, session=opaque(session_id))


def _reason(value: Any, name: str) -> dict[str, str]:
    # CAEP 1.0 section 2: reason_admin/reason_user are {language tag: message} objects.
    if isinstance(value, str):
        return {"en": value}
    if (
        isinstance(value, dict)
        and value
        and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        return dict(value)
    raise InvalidEvent(f"{name} must be a string or a {{language: message}} object")


def _caep_common(now: datetime, extra: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"event_timestamp": int(extra.get("event_timestamp", now.timestamp()))}
    entity = extra.get("initiating_entity")
    if entity is not None:
        if entity not in INITIATING_ENTITIES:
            raise InvalidEvent(f"initiating_entity must be one of {sorted(INITIATING_ENTITIES)}")
        out["initiating_entity"] = entity
    for name in ("reason_admin", "reason_user"):
        if extra.get(name) is not None:
            out[name] = _reason(extra[name], name)
    return out


def event_payload(event_type: str, now: datetime, extra: dict[str, Any] | None = None) -> Any:
    """The event object for ``event_type``, validated against its profile."""
    extra = dict(extra or {})
    if event_type == SESSION_REVOKED:
        return _caep_common(now, extra)
    if event_type == CREDENTIAL_CHANGE:
        out = _caep_common(now, extra)
        if extra.get("credential_type") not in CREDENTIAL_TYPES:
            raise InvalidEvent(f"credential_type must be one of {sorted(CREDENTIAL_TYPES)}")
        if extra.get("change_type") not in CHANGE_TYPES:
            raise InvalidEvent(f"change_type must be one of {sorted(CHANGE_TYPES)}")
        for name in ("credential_type", "change_type", "friendly_name"):
            if extra.get(name) is not None:
                out[name] = str(extra[name])
        return out
    if event_type == ACCOUNT_DISABLED:
        reason = extra.get("reason")
        if reason is None:
            return {}
        if reason not in DISABLE_REASONS:
            raise InvalidEvent(f"reason must be one of {sorted(DISABLE_REASONS)}")
        return {"reason": reason}
    if event_type == ACCOUNT_PURGED:
        return {}
    if event_type == VERIFICATION:
        return {} if extra.get("state") is None else {"state": str(extra["state"])}
    if event_type == STREAM_UPDATED:
        out = {"status": extra["status"]}
        if extra.get("reason"):
            out["reason"] = str(extra["reason"])
        return out
    raise InvalidEvent(f"unsupported event type {event_type}")


def set_claims(
    *,
    iss: str,
    aud: str | list[str],
    jti: str,
    iat: datetime,
    sub_id: Subject,
    event_type: str,
    event: dict[str, Any],
    txn: str | None = None,
) -> dict[str, Any]:
    """RFC 8417 section 2.2 claims for one event. No ``sub``, no ``exp``."""
    claims: dict[str, Any] = {
        "iss": iss,
        "aud": aud,
        "jti": jti,
        "iat": int(iat.timestamp()),
        "sub_id": sub_id,
        "events": {event_type: event},
    }
    if txn is not None:
        claims["txn"] = txn  # SSF 1.0 section 4.1.10: shared by SETs with one cause
    return claims
