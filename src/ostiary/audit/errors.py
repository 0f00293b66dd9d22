from __future__ import annotations

from ostiary.core.errors import OstiaryError


class AuditError(OstiaryError):
    pass


class TamperDetected(AuditError):
    """Verification found the log differs from what was hashed and checkpointed."""
