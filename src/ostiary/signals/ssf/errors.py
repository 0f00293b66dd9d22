"""SSF errors. The web layer renders them as JSON with the status they carry."""

from __future__ import annotations

from ostiary.core.errors import OstiaryError


class SsfError(OstiaryError):
    """A request the transmitter refuses; ``status`` and ``code`` shape the response."""

    status = 400
    code = "invalid_request"

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


class InvalidRequest(SsfError):
    pass


class StreamNotFound(SsfError):
    status = 404
    code = "not_found"

    def __init__(self, stream_id: str | None = None) -> None:
        super().__init__(f"no stream {stream_id!r} for this receiver" if stream_id else "no stream")


class StreamLimit(SsfError):
    status = 403
    code = "access_denied"


class TooFrequent(SsfError):
    """SSF 1.0 section 8.1.4.2: verification requests faster than min_verification_interval."""

    status = 429
    code = "too_many_requests"

    def __init__(self, description: str, retry_after: int) -> None:
        super().__init__(description)
        self.retry_after = retry_after


class InvalidEvent(OstiaryError):
    """The caller of ``emit`` built an event the CAEP/RISC profile does not allow
    (a programming error, not a receiver's)."""
