from __future__ import annotations

from ostiary.core.errors import OstiaryError


class SignalsError(OstiaryError):
    pass


class DeliveryFailed(SignalsError):
    """A delivery attempt failed. ``retryable`` false sends the message to dead letter."""

    def __init__(self, reason: str, *, retryable: bool = True) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
