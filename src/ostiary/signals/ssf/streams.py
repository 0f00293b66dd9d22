"""Event streams: the configuration a receiver supplies, the one the transmitter adds,
and the rules of SSF 1.0 section 8.1.1 for creating, updating and replacing them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from ostiary.signals.ssf.errors import InvalidRequest
from ostiary.signals.ssf.events import SUPPORTED

PUSH = "urn:ietf:rfc:8935"
POLL = "urn:ietf:rfc:8936"
METHODS = (PUSH, POLL)
MAX_DESCRIPTION = 1000
MAX_EVENTS_REQUESTED = 50
MAX_AUTHORIZATION = 4096


class Status(StrEnum):
    """SSF 1.0 section 8.1.2.1."""

    ENABLED = "enabled"
    PAUSED = "paused"  # hold events, send them when enabled again
    DISABLED = "disabled"  # drop events


@dataclass(frozen=True)
class Delivery:
    method: str
    endpoint_url: str | None = None  # receiver's for push; ours (derived) for poll
    authorization_header: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class ReceiverConfig:
    """The Receiver-Supplied properties. ``delivery`` None in a PATCH: keep the current."""

    delivery: Delivery | None
    events_requested: list[str] | None
    description: str | None


@dataclass(frozen=True)
class Stream:
    id: str
    owner: str  # the provisioning key (receiver) that created it
    aud: str
    method: str
    endpoint_url: str | None
    events_requested: list[str]
    description: str | None
    status: Status
    reason: str | None
    created_at: datetime
    updated_at: datetime
    last_verification_at: datetime | None = None
    authorization_sealed: str | None = field(default=None, repr=False)

    @property
    def events_delivered(self) -> list[str]:
        # The intersection of events_supported and events_requested (section 8.1.1).
        return [e for e in SUPPORTED if e in self.events_requested]

    def wants(self, event_type: str) -> bool:
        return event_type in self.events_delivered


def config_document(
    stream: Stream, issuer: str, poll_url: str, min_verification_interval: int
) -> dict[str, Any]:
    """The Stream Configuration object (SSF 1.0 section 8.1.1). The push
    ``authorization_header`` is a receiver's secret: stored sealed, never echoed."""
    delivery: dict[str, Any] = {"method": stream.method}
    delivery["endpoint_url"] = poll_url if stream.method == POLL else stream.endpoint_url
    doc: dict[str, Any] = {
        "stream_id": stream.id,
        "iss": issuer,
        "aud": stream.aud,
        "delivery": delivery,
        "events_supported": list(SUPPORTED),
        "events_requested": list(stream.events_requested),
        "events_delivered": stream.events_delivered,
        "min_verification_interval": min_verification_interval,
    }
    if stream.description is not None:
        doc["description"] = stream.description
    return doc


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    return body


def _endpoint(url: Any, allow_insecure: bool) -> str:
    if not isinstance(url, str) or not url or len(url) > 2048:
        raise InvalidRequest("delivery.endpoint_url must be a URL of at most 2048 characters")
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_insecure else ("https",)
    if parts.scheme not in schemes or not parts.hostname or parts.fragment or parts.username:
        need = "an http(s)" if allow_insecure else "an https"
        raise InvalidRequest(f"delivery.endpoint_url must be {need} URL without credentials")
    return url


def parse_delivery(raw: Any, allow_insecure: bool, poll_url: str | None) -> Delivery:
    if not isinstance(raw, dict):
        raise InvalidRequest("delivery must be a JSON object")
    method = raw.get("method")
    if method not in METHODS:
        raise InvalidRequest(f"delivery.method must be one of {', '.join(METHODS)}")
    if method == POLL:
        # The transmitter supplies the poll endpoint_url; a value sent back must match.
        given = raw.get("endpoint_url")
        if given is not None and given != poll_url:
            raise InvalidRequest("delivery.endpoint_url for poll is set by the transmitter")
        return Delivery(POLL)
    auth = raw.get("authorization_header")
    if auth is not None and (
        not isinstance(auth, str) or not auth or len(auth) > MAX_AUTHORIZATION or "\n" in auth
    ):
        raise InvalidRequest("delivery.authorization_header must be a one-line string")
    return Delivery(PUSH, _endpoint(raw.get("endpoint_url"), allow_insecure), auth)


def _events(raw: Any) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(e, str) and len(e) <= 500 for e in raw):
        raise InvalidRequest("events_requested must be an array of event type URIs")
    if len(raw) > MAX_EVENTS_REQUESTED:
        raise InvalidRequest(f"events_requested holds at most {MAX_EVENTS_REQUESTED} entries")
    return list(dict.fromkeys(raw))


def _description(raw: Any) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise InvalidRequest("description must be a string")
    return raw[:MAX_DESCRIPTION]  # section 8.1.1: the transmitter MAY truncate


def parse_create(body: Any, allow_insecure: bool) -> ReceiverConfig:
    """Section 8.1.1.1: without ``delivery`` the method is poll."""
    body = _object(body)
    raw = body.get("delivery")
    delivery = Delivery(POLL) if raw is None else parse_delivery(raw, allow_insecure, None)
    events = _events(body["events_requested"]) if "events_requested" in body else []
    return ReceiverConfig(delivery, events, _description(body.get("description")))


def stream_id_of(body: Any) -> str:
    body = _object(body)
    stream_id = body.get("stream_id")
    if not isinstance(stream_id, str) or not stream_id:
        raise InvalidRequest("stream_id is required")
    return stream_id


def check_transmitter_supplied(body: dict[str, Any], current: dict[str, Any]) -> None:
    """Sections 8.1.1.3/8.1.1.4: Transmitter-Supplied properties may be sent back but
    must match (events_delivered as it was before the update)."""
    for name in ("iss", "aud", "events_supported", "events_delivered"):
        if name in body and body[name] != current[name]:
            raise InvalidRequest(f"{name} is set by the transmitter and does not match")
    for name in ("min_verification_interval", "inactivity_timeout"):
        if name in body and body[name] != current.get(name):
            raise InvalidRequest(f"{name} is set by the transmitter and does not match")


def parse_update(
    body: Any, current: dict[str, Any], allow_insecure: bool, *, replace: bool
) -> ReceiverConfig:
    """PATCH (``replace`` False) changes what is present; PUT replaces every
    Receiver-Supplied property, a missing one meaning deleted (section 8.1.1.4)."""
    body = _object(body)
    check_transmitter_supplied(body, current)
    poll_url = (
        current["delivery"]["endpoint_url"] if current["delivery"]["method"] == POLL else None
    )
    raw = body.get("delivery")
    if raw is not None:
        delivery: Delivery | None = parse_delivery(raw, allow_insecure, poll_url)
    else:
        delivery = Delivery(POLL) if replace else None
    if "events_requested" in body:
        events: list[str] | None = _events(body["events_requested"])
    else:
        events = [] if replace else None
    if "description" in body or replace:
        description = _description(body.get("description"))
    else:
        description = current.get("description")
    return ReceiverConfig(delivery, events, description)


def parse_status(body: Any) -> tuple[str, Status, str | None]:
    body = _object(body)
    stream_id = stream_id_of(body)
    try:
        status = Status(body.get("status"))
    except ValueError:
        raise InvalidRequest("status must be enabled, paused or disabled") from None
    reason = body.get("reason")
    if reason is not None and (not isinstance(reason, str) or len(reason) > 500):
        raise InvalidRequest("reason must be a string of at most 500 characters")
    return stream_id, status, reason
