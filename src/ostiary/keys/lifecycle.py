"""Creating keys under policy. Pure: the caller persists the returned record."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

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
