from __future__ import annotations

from ostiary.core.errors import OstiaryError


class StoreError(OstiaryError):
    pass


class NotMigrated(StoreError):
    """The database schema is missing or older than this code."""


class DatabaseUnavailable(StoreError):
    pass


# SQLSTATEs a retry can clear: serialization_failure, deadlock_detected, lock_not_available.
_TRANSIENT_STATES = frozenset({"40001", "40P01", "55P03"})


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing this transaction for now (a deadlock
    between two writers, a serialization failure, SQLite's busy timeout) rather than a
    bug: the request can be retried, so it is a 503 with Retry-After, not a 500."""
    orig = getattr(exc, "orig", exc)  # SQLAlchemy wraps the driver's error
    if getattr(orig, "sqlstate", None) in _TRANSIENT_STATES:
        return True
    return type(orig).__name__ == "OperationalError" and "database is locked" in str(orig)
