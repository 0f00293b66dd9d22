"""Streaming the audit log to sinks, at least once.

The outbox is the audit table itself plus one cursor per sink (the next tree position to
deliver). Positions are dense and commit in order, so "every position below the cursor
was delivered" is exact. A worker reads a batch past the cursor, sends it, and only then
advances the cursor: a crash in between re-sends the batch (at least once, never lost).
Receivers de-duplicate on the event ``id``.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, insert, select, update

from ostiary.audit.checkpoint import Checkpoint
from ostiary.audit.errors import AuditError
from ostiary.audit.syslog import format_message
from ostiary.audit.transport import append_witness, post_signed, send_syslog
from ostiary.core.clock import as_utc
from ostiary.core.crypto.vault import Vault
from ostiary.core.settings import Settings
from ostiary.store.db import Database
from ostiary.store.repositories.audit import AuditReader
from ostiary.store.repositories.audit_integrity import CheckpointStore, Integrity, load_anchor
from ostiary.store.tables_audit import audit_sink_cursors as sc

MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class Sink:
    name: str
    send: Callable[[list[dict[str, Any]]], None]


def configured_sinks(settings: Settings) -> list[Sink]:
    sinks = []
    if settings.audit_webhook_url:
        url = settings.audit_webhook_url
        secret = (
            settings.audit_webhook_secret.get_secret_value().encode()
            if settings.audit_webhook_secret
            else b""
        )
        if not secret:
            raise AuditError("OSTIARY_AUDIT_WEBHOOK_SECRET is required with a webhook sink")

        def webhook(docs: list[dict[str, Any]]) -> None:
            post_signed(url, secret, orjson.dumps({"events": docs}), "audit.events")

        sinks.append(Sink("webhook", webhook))
    if settings.audit_syslog_address:
        address, tls = settings.audit_syslog_address, settings.audit_syslog_tls
        ca = str(settings.audit_syslog_ca_file) if settings.audit_syslog_ca_file else None
        host = socket.gethostname()

        def syslog(docs: list[dict[str, Any]]) -> None:
            send_syslog(address, [format_message(d, host) for d in docs], tls=tls, ca_file=ca)

        sinks.append(Sink("syslog", syslog))
    return sinks


class SinkCursors:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def get(self, sink: str) -> Any:
        return self._conn.execute(select(sc).where(sc.c.sink == sink)).first()

    def all(self) -> list[Any]:
        return list(self._conn.execute(select(sc).order_by(sc.c.sink)))

    def ensure(self, sink: str, start: int, now: datetime) -> None:
        if self.get(sink) is None:
            self._conn.execute(
                insert(sc).values(sink=sink, next_position=start, attempts=0, updated_at=now)
            )

    def advance(self, sink: str, next_position: int, now: datetime) -> None:
        self._conn.execute(
            update(sc)
            .where(sc.c.sink == sink)
            .values(
                next_position=next_position,
                attempts=0,
                last_error=None,
                next_attempt_at=None,
                updated_at=now,
            )
        )

    def failed(self, sink: str, error: str, now: datetime) -> None:
        attempts = int(self.get(sink).attempts) + 1
        delay = min(MAX_BACKOFF, 2.0 ** min(attempts, 16))
        self._conn.execute(
            update(sc)
            .where(sc.c.sink == sink)
            .values(
                attempts=attempts,
                last_error=error[:1000],
                next_attempt_at=now + timedelta(seconds=delay),
                updated_at=now,
            )
        )

    def slowest(self) -> int | None:
        rows = self.all()
        return min((int(r.next_position) for r in rows), default=None)


def deliver_once(db: Database, sinks: list[Sink], now: datetime, batch: int) -> dict[str, int]:
    """One pass: each due sink gets up to ``batch`` events. Returns delivered counts."""
    delivered: dict[str, int] = {}
    for sink in sinks:
        with db.begin() as conn:
            cursors = SinkCursors(conn)
            cursors.ensure(sink.name, load_anchor(conn).frontier.size, now)
            state = cursors.get(sink.name)
        if state.next_attempt_at is not None and as_utc(state.next_attempt_at) > now:
            continue
        with db.read() as conn:
            docs = AuditReader(conn).entries_from(int(state.next_position), batch)
        if not docs:
            delivered[sink.name] = 0
            continue
        try:
            sink.send(docs)
        except AuditError as exc:
            with db.begin() as conn:
                SinkCursors(conn).failed(sink.name, str(exc), now)
            continue
        with db.begin() as conn:
            SinkCursors(conn).advance(sink.name, int(docs[-1]["position"]) + 1, now)
        delivered[sink.name] = len(docs)
    return delivered


def origin_of(settings: Settings) -> str:
    return settings.audit_origin or settings.issuer


CHECKPOINT_LOCK = 60070002  # pg advisory lock id (signing keys use 60070001)


def checkpoint_and_witness(
    db: Database, vault: Vault, settings: Settings, now: datetime
) -> tuple[int, Checkpoint, list[str]]:
    """Sign a checkpoint, then copy it to the configured witnesses. The checkpoint is
    committed first; a witness that fails is reported (and gets the next one)."""
    signed = _checkpoint(db, vault, settings, now, periodic=False)
    assert signed is not None  # only a periodic checkpoint may find nothing to sign
    return *signed, _witness(settings, signed[1])


def checkpoint_if_new(
    db: Database, vault: Vault, settings: Settings, now: datetime
) -> tuple[int, Checkpoint, list[str]] | None:
    """The periodic checkpoint (``audit worker``, ``serve``): sign only when events were
    added since the latest one. On PostgreSQL a transaction-scoped advisory lock makes
    nodes take turns writing, so two nodes due at once write one checkpoint, not two."""
    signed = _checkpoint(db, vault, settings, now, periodic=True)
    if signed is None:
        return None
    return *signed, _witness(settings, signed[1])


def _checkpoint(
    db: Database, vault: Vault, settings: Settings, now: datetime, *, periodic: bool
) -> tuple[int, Checkpoint] | None:
    """Fold the tree in a read unit, then sign and store in a short write unit. An
    operator's checkpoint verifies the events added since the latest one first; the
    periodic one (``periodic``: only when the tree grew) signs their stored leaf hashes
    (:meth:`Integrity.stored_head`): re-reading and re-hashing every event cost ~1% of
    a SCIM create's CPU at saturation (docs/performance.md, session 17). Folding inside
    the write unit held SQLite's write lock for as long as it ran, and every write
    waited: seconds after a busy interval (session 16), against a 10 s busy timeout.
    Events appended in between are left for the next checkpoint; one signed meanwhile
    by another node up to this size or past it wins."""
    with db.read() as conn:
        if periodic and _signed_up_to(conn) == AuditReader(conn).head()[0]:
            return None  # nothing new to sign (or another node just signed it)
        integrity = Integrity(conn, vault)
        size, frontier = integrity.stored_head() if periodic else integrity.verified_head()
    with db.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({CHECKPOINT_LOCK})")
        if periodic and _signed_up_to(conn) >= size:
            return None
        return Integrity(conn, vault).sign(origin_of(settings), size, frontier, now)


def _signed_up_to(conn: Connection) -> int:
    """The tree size of the latest checkpoint (-1 without one)."""
    latest = CheckpointStore(conn).latest()
    return latest[1].tree_size if latest is not None else -1


def _witness(settings: Settings, cp: Checkpoint) -> list[str]:
    errors = []
    if settings.audit_witness_file:
        try:
            append_witness(settings.audit_witness_file, cp)
        except OSError as exc:
            errors.append(f"witness file {settings.audit_witness_file}: {exc.strerror}")
    if settings.audit_witness_url:
        secret = settings.audit_witness_secret
        try:
            post_signed(
                settings.audit_witness_url,
                secret.get_secret_value().encode() if secret else b"",
                orjson.dumps(cp.as_dict()),
                "audit.checkpoint",
            )
        except AuditError as exc:
            errors.append(str(exc))
    return errors
