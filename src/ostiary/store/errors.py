from __future__ import annotations

from ostiary.core.errors import OstiaryError


class StoreError(OstiaryError):
    pass


class NotMigrated(StoreError):
    """The database schema is missing or older than this code."""


class DatabaseUnavailable(StoreError):
    pass
