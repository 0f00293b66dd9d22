"""Appending audit events inside the caller's transaction.

The entry hashed into the Merkle tree is the canonical JSON (sorted keys, no spaces) of
the event; its leaf hash is SHA-256(0x00 || entry) as RFC 9162 section 2.1.1 defines.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, insert

from ostiary.audit.events import AuditEvent, redact
from ostiary.core.crypto.hashing import sha256
from ostiary.core.ids import new_id
from ostiary.store.tables_audit import audit_events


def canonical(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def leaf_hash(entry: bytes) -> bytes:
    return sha256(b"\x00" + entry)


def event_document(event: AuditEvent, event_id: str, at: datetime) -> dict[str, Any]:
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
    if event.detail:
        doc["detail"] = redact(event.detail)
    return doc


_INSERT = insert(audit_events)


class AuditLog:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def append(self, event: AuditEvent, at: datetime) -> str:
        return self.append_many([(event, at)])[0]

    def append_many(self, events: list[tuple[AuditEvent, datetime]]) -> list[str]:
        """Several events in one statement (executemany): the token endpoint commits the
        events of concurrent requests together (group commit)."""
        rows = [_row(event, at) for event, at in events]
        # One static statement with bound parameters: building ``insert().values(...)``
        # per event cost ~0.4 ms of SQLAlchemy coercion, 20x the insert itself.
        self._conn.execute(_INSERT, rows)
        return [str(r["id"]) for r in rows]


def _row(event: AuditEvent, at: datetime) -> dict[str, Any]:
    event_id = new_id()
    doc = event_document(event, event_id, at)
    entry = canonical(doc)
    return {
        "id": event_id,
        "occurred_at": at,
        "action": event.action,
        "outcome": event.outcome,
        "actor_kind": event.actor.kind,
        "actor_id": event.actor.id,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "request_id": event.request.request_id,
        "source_ip": event.request.source_ip,
        "event": doc,
        "entry": entry.decode(),
        "leaf_hash": leaf_hash(entry),
    }
