"""Why a provisioning key was refused. Web layers render these in their protocol."""

from __future__ import annotations

from ostiary.core.errors import OstiaryError


class KeyError_(OstiaryError):
    """Base for key errors (named with a trailing underscore to avoid the builtin)."""


class InvalidKey(KeyError_):
    """Missing, malformed, unknown, wrong, expired, disabled or revoked: all answer 401.

    ``reason`` is for the audit log and metrics only; clients never see it, so an
    attacker cannot tell a wrong secret from an unknown id."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InsufficientScope(KeyError_):
    def __init__(self, needed: str) -> None:
        super().__init__(f"this key lacks the scope {needed!r}")
        self.needed = needed


class PolicyViolation(KeyError_):
    """A request to create or change a key breaks policy (lifetime, scopes)."""
