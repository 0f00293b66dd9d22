"""The exact bytes an audit event is hashed as.

An entry is the canonical JSON (sorted keys, no spaces, UTF-8) of the event document. It
carries its tree ``position`` and the hex leaf hash of the entry before it (``prev``), so
every entry is chained to its predecessor as well as being a Merkle leaf: a deleted or
reordered row breaks the chain at the very next event, even before a checkpoint covers it.

The append runs inside every audited write, so its documents (before, after, detail) are
serialised once, before the tree position is known, and embedded as they are
(:func:`document_of`); :func:`place` adds the position and predecessor and serialises
the rest. The result is byte-for-byte ``canonical(chain(event_document(...), position,
prev))`` (tests check this).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from ostiary.audit.events import Actor, AuditEvent, RequestInfo, has_no_secrets, redact

GENESIS = "0" * 64  # the ``prev`` of the first entry
_SORT = orjson.OPT_SORT_KEYS


def canonical(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=_SORT)


def event_document(event: AuditEvent, event_id: str, at: datetime) -> dict[str, Any]:
    """The event as it is hashed (before the chain fields), its documents redacted."""
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    return _document(event, event_id, at.isoformat())


def _document(event: AuditEvent, event_id: str, time: str) -> dict[str, Any]:
    """The event document, its documents redacted (the reference build)."""
    doc: dict[str, Any] = {
        "id": event_id,
        "time": time,
        "action": event.action,
        "outcome": event.outcome,
        "actor": event.actor.as_dict(),
        "target": {"type": event.target_type, "id": event.target_id},
        "request": event.request.as_dict(),
    }
    before, after = event.before, event.after
    if before is not None:
        doc["before"] = before = redact(before)
    if after is not None:
        doc["after"] = after = redact(after)
    if before is not None and after is not None:
        doc["changes"] = diff(before, after)
    if event.detail:
        doc["detail"] = redact(event.detail)
    return doc


def utc_times(at: datetime) -> tuple[str, str]:
    """For a UTC ``at``: the entry's ``time`` (exactly ``at.isoformat()``) and the
    "YYYY-MM-DD HH:MM:SS.ffffff" SQLite column text. An aware ``isoformat`` costs about
    12,000 instructions (C ``sprintf`` per field, the offset through ``utcoffset``) and
    the append runs in every write, so the text up to the second is kept from the last
    call and only the microseconds are formatted when the second is the same. The same
    second is one subtraction and one chained comparison against the kept whole second
    (six field reads and a tuple cost ~1,200 more), and the six digits are two table
    look-ups (``str`` of an int and a slice cost ~700 more; docs/performance.md, audit11)."""
    global _LAST_SECOND
    last = _LAST_SECOND  # one read: another thread may replace it meanwhile
    if not _ZERO <= at - last[0] < _ONE_SECOND:
        whole = at.replace(microsecond=0)
        text = whole.isoformat(" ", "seconds")[:19]
        last = (whole, f"{text[:10]}T{text[11:]}.", f"{text}.")
        _LAST_SECOND = last
    us = at.microsecond
    if not us:  # isoformat() leaves out a zero fraction
        return f"{last[1][:-1]}+00:00", f"{last[2]}000000"
    fraction = _DIGITS[us // 1000] + _DIGITS[us % 1000]
    return last[1] + fraction + "+00:00", last[2] + fraction


# utc_times' cache: the last whole second (aware, UTC) and its text as
# "YYYY-MM-DDTHH:MM:SS." and "YYYY-MM-DD HH:MM:SS." (the fraction follows). It starts at
# the epoch, which no append's time is within a second of.
_LAST_SECOND: tuple[datetime, str, str] = (
    datetime(1970, 1, 1, tzinfo=UTC),
    "1970-01-01T00:00:00.",
    "1970-01-01 00:00:00.",
)
_ZERO = timedelta(0)
_ONE_SECOND = timedelta(seconds=1)
_DIGITS = [f"{n:03d}" for n in range(1000)]  # three digits of the microseconds


# An event's fields, :class:`AuditEvent`'s in their order: what a SCIM write passes to
# the append without building the event (~7,000 instructions; docs/performance.md,
# session 12).
EventFields = tuple[
    str,  # action
    Actor,
    str,  # outcome
    str | None,  # target_type
    str | None,  # target_id
    RequestInfo,
    dict[str, Any] | None,  # before
    dict[str, Any] | None,  # after
    dict[str, Any] | None,  # detail
    bytes | None,  # after_json
    bool,  # after_clean
]


def fields_of(event: AuditEvent) -> EventFields:
    return (
        event.action,
        event.actor,
        event.outcome,
        event.target_type,
        event.target_id,
        event.request,
        event.before,
        event.after,
        event.detail,
        event.after_json,
        event.after_clean,
    )


def document_of(fields: EventFields, event_id: str, time: str) -> dict[str, Any]:
    """``event_document(AuditEvent(*fields), event_id, at)`` for ``time`` = the entry time
    of ``at``, for :func:`place`, with each document serialised once in the usual case:
    before, after and detail are serialised (sorted keys), searched for a secret field's
    key (:func:`ostiary.audit.events.has_no_secrets`) and embedded as they are
    (``orjson.Fragment``). Only an event with a document that could hold a secret takes
    the redacting build. ``after_json``: ``after``'s canonical bytes when the caller has
    them; ``after_clean``: the caller proved ``after`` clean (no search)."""
    action, actor, outcome, target_type, target_id, request, before, after, detail = fields[:9]
    after_json, after_clean = fields[9], fields[10]
    doc: dict[str, Any] = {
        "id": event_id,
        "time": time,
        "action": action,
        "outcome": outcome,
        "actor": actor.as_json(),
        "target": {"type": target_type, "id": target_id},
        "request": request.as_dict(),
    }
    # Spelled out three times on purpose: one loop over (name, value, raw, clean) tuples
    # measured 2,100 instructions more per event (docs/performance.md, auditinit).
    clean = True
    if before is not None:
        raw = _clean_json(before)
        if raw is None:
            clean = False
        else:
            doc["before"] = orjson.Fragment(raw)
            if after is not None:  # from the documents as given: neither holds a secret
                doc["changes"] = diff(before, after)
    if clean and after is not None:
        raw = after_json
        if raw is None or not after_clean:  # a create has both: no call to make
            raw = _clean_json(after, raw, after_clean)
        if raw is None:
            clean = False
        else:
            doc["after"] = orjson.Fragment(raw)
    if clean and detail:
        raw = _clean_json(detail)
        if raw is None:
            clean = False
        else:
            doc["detail"] = orjson.Fragment(raw)
    if clean:
        return doc
    # A document could hold a secret field, or orjson cannot serialise it as given: the
    # reference build, redacted.
    return _document(AuditEvent(*fields), event_id, time)


def _clean_json(value: Any, raw: bytes | None = None, clean: bool = False) -> bytes | None:
    """``value``'s canonical JSON (``raw`` when the caller has it), or None when it could
    hold a secret field (redacting would change it) or is not JSON-serialisable as given
    (the redacting build decides). ``clean``: the caller proved it holds none."""
    if raw is None:
        try:
            raw = orjson.dumps(value, option=_SORT)
        except TypeError:
            return None
    return raw if clean or has_no_secrets(raw) else None


def place(doc: dict[str, Any], position: int, prev_leaf: bytes | bytearray | None) -> bytes:
    """The entry of ``doc`` at ``position`` chained to ``prev_leaf`` (None: the first
    entry), i.e. ``canonical(chain(doc, position, prev_leaf))``. ``doc`` gets the two
    keys (placing it again overwrites them): copying it per entry would cost more than
    the serialisation, in which the embedded documents are only copied."""
    doc["position"] = position
    doc["prev"] = prev_leaf.hex() if prev_leaf else GENESIS
    return orjson.dumps(doc, option=_SORT)


def halves(doc: dict[str, Any]) -> tuple[str, str]:
    """The entry of ``doc`` on either side of its chain fields, for an appender that
    places it where the head is read (PostgreSQL's ``ostiary_audit_append``, migration
    0026): ``place(doc, position, prev_leaf)`` is ``head + str(position) + ',"prev":"' +
    hex + '",' + tail``, the hex being ``prev_leaf.hex()`` or GENESIS (a placed ``doc``'s
    own chain fields are replaced). Serialised once with placeholder chain fields and cut
    around them: two serialisations of the parts cost ~2.4 us more an event. The cut is
    the placeholder's last occurrence, which is the top-level one: only ``request``,
    ``target`` and ``time`` sort after ``prev`` (every event has them), their keys are
    fixed names, and inside a JSON string every quote is escaped."""
    entry = orjson.dumps({**doc, "position": 0, "prev": ""}, option=_SORT).decode()
    at = entry.rfind(_PLACEHOLDER)
    if at < 0:  # no key after the chain fields: not an event document
        raise ValueError("an audit document without request, target and time")
    return entry[: at + _HEAD_END], entry[at + len(_PLACEHOLDER) :]


# The chain fields as halves() serialises them, and where its head ends in them.
_PLACEHOLDER = ',"position":0,"prev":"",'
_HEAD_END = len(',"position":')


def chain(doc: dict[str, Any], position: int, prev_leaf: bytes | None) -> dict[str, Any]:
    """``doc`` placed in the tree: its position and its predecessor's leaf hash."""
    return {**doc, "position": position, "prev": prev_leaf.hex() if prev_leaf else GENESIS}


def diff(before: Any, after: Any, path: str = "") -> list[dict[str, Any]]:
    """Attribute-level changes between two (already redacted) documents:
    ``[{"path": "name.givenName", "from": ..., "to": ...}]``; lists compare as a whole."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[dict[str, Any]] = []
        for key in sorted(set(before) | set(after)):
            if key == "meta":  # lastModified/version always change; not a user-visible edit
                continue
            sub = f"{path}.{key}" if path else str(key)
            out.extend(diff(before.get(key), after.get(key), sub))
        return out
    if before == after:
        return []
    return [{"path": path, "from": before, "to": after}]
