"""Creating keys under policy. Pure: the caller persists the returned record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ostiary.core.clock import as_utc
from ostiary.keys import format as key_format
from ostiary.keys.errors import PolicyViolation
from ostiary.keys.models import KeyRecord, KeySecret, KeyStatus
from ostiary.keys.scopes import check_grantable, validate_scopes
from ostiary.keys.verify import secret_hmac


@dataclass(frozen=True)
class KeyPolicy:
    max_lifetime: timedelta = timedelta(days=90)
    default_lifetime: timedelta = timedelta(days=90)


@dataclass(frozen=True)
class NewKey:
    token: str  # shown exactly once
    record: KeyRecord

    def __repr__(self) -> str:
        return f"NewKey(id={self.record.id!r}, token='***')"


def create_key(
    *,
    name: str,
    scopes: list[str],
    now: datetime,
    pepper: bytes,
    policy: KeyPolicy,
    lifetime: timedelta | None = None,
    created_by: str | None = None,
    held_scopes: frozenset[str] | None = None,
    description: str = "",
) -> NewKey:
    name = name.strip()
    if not name or len(name) > 200:
        raise PolicyViolation("a key needs a name of 1 to 200 characters")
    granted = validate_scopes(scopes)
    check_grantable(granted, held_scopes)
    lifetime = lifetime or policy.default_lifetime
    if lifetime <= timedelta(0):
        raise PolicyViolation("a key's lifetime must be positive")
    if lifetime > policy.max_lifetime:
        raise PolicyViolation(
            f"a key may live at most {policy.max_lifetime.days} days (policy maximum)"
        )
    token, parsed = key_format.generate()
    secret = KeySecret(
        version=1,
        secret_hmac=secret_hmac(pepper, parsed.secret),
        last4=token[-4:],
        created_at=now,
    )
    record = KeyRecord(
        id=parsed.key_id,
        name=name,
        scopes=granted,
        status=KeyStatus.ACTIVE,
        created_at=now,
        expires_at=now + lifetime,
        secrets=(secret,),
        created_by=created_by,
        description=description,
    )
    return NewKey(token=token, record=record)


@dataclass(frozen=True)
class Rotation:
    token: str  # the new secret, shown exactly once (or delivered)
    secret: KeySecret
    ended: tuple[tuple[int, datetime], ...]  # (version, not_after) for older secrets
    expires_at: datetime


def rotate_secret(
    record: KeyRecord, *, now: datetime, pepper: bytes, overlap: timedelta, policy: KeyPolicy
) -> Rotation:
    """A successor secret under the same key id. Older live secrets keep working until
    ``now + overlap``; the key's lifetime restarts (same length, capped by policy)."""
    if record.status is not KeyStatus.ACTIVE:
        raise PolicyViolation(f"only an active key can be rotated (this one is {record.status})")
    if overlap < timedelta(0) or overlap > timedelta(days=30):
        raise PolicyViolation("the overlap must be between 0 and 30 days")
    token, parsed = key_format.generate(record.id)
    secret = KeySecret(
        version=record.current_version + 1,
        secret_hmac=secret_hmac(pepper, parsed.secret),
        last4=token[-4:],
        created_at=now,
    )
    end = now + overlap
    ended = tuple(
        (s.version, end) for s in record.secrets if s.not_after is None or as_utc(s.not_after) > end
    )
    lifetime = min(record.expires_at - record.created_at, policy.max_lifetime)
    return Rotation(token=token, secret=secret, ended=ended, expires_at=now + lifetime)


def rotation_due(record: KeyRecord, now: datetime) -> bool:
    b = record.binding
    if record.status is not KeyStatus.ACTIVE or b.rotate_every is None:
        return False
    return b.next_rotation_at is None or as_utc(b.next_rotation_at) <= now


def due_warning(record: KeyRecord, now: datetime, days: tuple[int, ...]) -> int | None:
    """The most urgent expiry warning (in days before expiry) not yet sent, if any.
    A late scheduler sends only the most urgent one; the larger ones count as sent."""
    if record.status is not KeyStatus.ACTIVE:
        return None
    left = as_utc(record.expires_at) - now
    if left <= timedelta(0):
        return None
    due = [d for d in days if left <= timedelta(days=d) and d not in record.binding.warnings_sent]
    return min(due) if due else None
