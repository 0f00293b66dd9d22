"""Why a provisioning key was refused. Web layers render these in their protocol."""

from __future__ import annotations

from ostiary.core.errors import OstiaryError


class KeyError_(OstiaryError):
    """Base for key errors (named with a trailing underscore to avoid the builtin)."""


class InvalidKey(KeyError_):
    """Missing, malformed, unknown, wrong, expired, disabled or revoked: all answer 401.

    ``reason`` is for the audit log and metrics only; clients never see it, so an
    attacker cannot tell a wrong secret from an unknown id."""

    def __init__(self, reason: str, key_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.key_id = key_id  # set once the token parsed: for per-id limits and anomalies


class InsufficientScope(KeyError_):
    def __init__(self, needed: str) -> None:
        super().__init__(f"this key lacks the scope {needed!r}")
        self.needed = needed


class PolicyViolation(KeyError_):
    """A request to create or change a key breaks policy (lifetime, scopes)."""


class AttributeNotAllowed(KeyError_):
    """The key may not write these attributes (its attribute restriction)."""

    def __init__(self, resource: str, attributes: list[str]) -> None:
        super().__init__(
            f"this key may not write {resource} attribute(s): {', '.join(sorted(attributes))}"
        )
        self.resource = resource
        self.attributes = attributes


class SourceNotAllowed(KeyError_):
    """The request came from outside the key's CIDR allow-list."""


class DPoPRequired(KeyError_):
    """The key is set to require DPoP; bearer use is refused."""


class RateLimited(KeyError_):
    """Too many requests (or failed authentications) for a key or a source."""

    def __init__(self, what: str, limit: int, retry_after: float, reset_after: float) -> None:
        super().__init__(f"rate limit exceeded for {what}")
        self.what = what
        self.limit = limit
        self.retry_after = retry_after
        self.reset_after = reset_after
