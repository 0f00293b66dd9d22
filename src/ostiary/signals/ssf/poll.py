"""RFC 8936 poll requests: acknowledgements, errors, how many SETs, whether to wait."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ostiary.signals.ssf.errors import InvalidRequest

MAX_ACKS = 1000


@dataclass(frozen=True)
class PollRequest:
    ack: list[str] = field(default_factory=list)
    set_errs: dict[str, dict[str, str]] = field(default_factory=dict)
    max_events: int | None = None  # None: the transmitter's default
    return_immediately: bool = False  # RFC 8936 section 2.2: default is a long poll


def _jti(value: Any) -> str:
    if not isinstance(value, str) or not value or len(value) > 200:
        raise InvalidRequest("jti values must be non-empty strings")
    return value


def parse_poll(body: Any) -> PollRequest:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidRequest("the poll request must be a JSON object")
    ack = body.get("ack", [])
    if not isinstance(ack, list) or len(ack) > MAX_ACKS:
        raise InvalidRequest(f"ack must be an array of at most {MAX_ACKS} jti values")
    errs_raw = body.get("setErrs", {})
    if not isinstance(errs_raw, dict) or len(errs_raw) > MAX_ACKS:
        raise InvalidRequest("setErrs must be an object of jti -> {err, description}")
    set_errs: dict[str, dict[str, str]] = {}
    for jti, detail in errs_raw.items():
        if not isinstance(detail, dict) or not isinstance(detail.get("err"), str):
            raise InvalidRequest("each setErrs entry needs an err string (RFC 8936 section 2.2)")
        description = detail.get("description")
        set_errs[_jti(jti)] = {
            "err": detail["err"][:100],
            "description": description[:1000] if isinstance(description, str) else "",
        }
    max_events = body.get("maxEvents")
    if max_events is not None and (
        isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 0
    ):
        raise InvalidRequest("maxEvents must be a non-negative integer")
    immediately = body.get("returnImmediately", False)
    if not isinstance(immediately, bool):
        raise InvalidRequest("returnImmediately must be a boolean")
    return PollRequest([_jti(j) for j in ack], set_errs, max_events, immediately)
