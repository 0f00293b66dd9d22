"""Errors of the sync agent. The CLI prints their message in one line and exits non-zero."""

from __future__ import annotations

from typing import Any

from ostiary.core.errors import OstiaryError


class SyncError(OstiaryError):
    """Root of the agent's errors."""


class ConfigInvalid(SyncError):
    """The sync configuration / mapping file is malformed; the message names the key."""


class SecretUnavailable(SyncError):
    """A secret reference (env, file, command) could not be resolved. Never holds the value."""


class SourceError(SyncError):
    """A source could not be read (file, LDAP, SCIM)."""


class SafetyRefused(SyncError):
    """The plan would deprovision more users than the safety threshold allows."""


class TargetError(SyncError):
    """The SCIM server answered with an error after retries."""

    def __init__(self, message: str, *, status: int | None = None, body: Any = None):
        super().__init__(message)
        self.status = status
        self.body = body

    @property
    def scim_type(self) -> str | None:
        return self.body.get("scimType") if isinstance(self.body, dict) else None


class AuthError(TargetError):
    """Getting or using an access token failed (token endpoint, 401/403)."""
