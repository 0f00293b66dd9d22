from __future__ import annotations

from ostiary.core.errors import Conflict, NotFound, OstiaryError


class DirectoryError(OstiaryError):
    pass


class UserNotFound(NotFound, DirectoryError):
    pass


class GroupNotFound(NotFound, DirectoryError):
    pass


class UniquenessConflict(Conflict, DirectoryError):
    """userName (case-insensitively) or another unique value is taken."""


class VersionConflict(Conflict, DirectoryError):
    """The record changed since the caller read it (optimistic concurrency)."""


class MemberNotFound(NotFound, DirectoryError):
    """A group member (or a manager) names a user or group that does not exist."""
