"""The exact bytes an audit event is hashed as.

An entry is the canonical JSON (sorted keys, no spaces, UTF-8) of the event document. It
carries its tree ``position`` and the hex leaf hash of the entry before it (``prev``), so
every entry is chained to its predecessor as well as being a Merkle leaf: a deleted or
reordered row breaks the chain at the very next event, even before a checkpoint covers it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from ostiary.audit.events import AuditEvent, redact

GENESIS = "0" * 64  # the ``prev`` of the first entry


def canonical(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def event_document(event: AuditEvent, event_id: str, at: datetime) -> dict[str, Any]:
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    doc: dict[str, Any] = {
        "id": event_id,
        "time": at.isoformat(),
        "action": event.action,
        "outcome": event.outcome,
        "actor": event.actor.as_dict(),
        "target": {"type": event.target_type, "id": event.target_id},
        "request": {k: v for k, v in event.request.__dict__.items() if v is not None},
    }
    if event.before is not None:
        doc["before"] = redact(event.before)
    if event.after is not None:
        doc["after"] = redact(event.after)
    if event.before is not None and event.after is not None:
        doc["changes"] = diff(doc["before"], doc["after"])
    if event.detail:
        doc["detail"] = redact(event.detail)
    return doc


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
