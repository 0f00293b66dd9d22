"""The SSF transmitter: turns domain events into signed SETs on every interested stream,
inside the caller's transaction, and pushes them from the outbox worker.

``SsfTransmitter.emit(conn, event_type, subject, now, extra)`` is the one call the
deprovisioning code makes; the SETs commit or roll back with its change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

import httpx
import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from ostiary.core.clock import Clock
from ostiary.core.crypto.vault import Vault
from ostiary.core.ids import new_id
from ostiary.core.settings import Settings
from ostiary.signals.errors import DeliveryFailed
from ostiary.signals.outbox import OutboxMessage
from ostiary.signals.ssf import events as ev
from ostiary.signals.ssf.errors import InvalidEvent
from ostiary.signals.ssf.signing import Es256Signer, SetSigner
from ostiary.signals.ssf.streams import POLL, Status, Stream
from ostiary.store.db import Database
from ostiary.store.repositories.outbox import OutboxBatch
from ostiary.store.repositories.ssf import SsfRepository, signing_jwk
from ostiary.web.logs import get_logger

log = get_logger("ostiary.ssf")
SET_MEDIA_TYPE = "application/secevent+jwt"


class SsfTransmitter:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        vault: Vault,
        clock: Clock,
        signer: SetSigner | None = None,
    ) -> None:
        self.settings, self.db, self.vault, self.clock = settings, db, vault, clock
        self._signer = signer  # swappable: hand in the OIDC key set's signer later
        self._lock = threading.Lock()

    @property
    def issuer(self) -> str:
        return self.settings.issuer

    def poll_url(self, stream_id: str) -> str:
        return f"{self.issuer}/ssf/poll/{stream_id}"

    def signer(self, conn: Connection | None = None) -> SetSigner:
        """The signer, its key loaded (or created) once per process. Inside a caller's
        transaction pass ``conn``: on SQLite a second write transaction would wait on
        the caller's own lock."""
        if self._signer is None:
            with self._lock:
                if self._signer is None:
                    if conn is not None:
                        self._signer = Es256Signer(signing_jwk(conn, self.vault))
                    else:
                        self._signer = Es256Signer(self._load_key())
        return self._signer

    def _load_key(self) -> dict[str, Any]:
        try:
            with self.db.begin() as own:
                return signing_jwk(own, self.vault)
        except IntegrityError:
            # Another node created it between our read and our insert: use theirs.
            with self.db.begin() as own:
                return signing_jwk(own, self.vault)

    # --- emitting ---------------------------------------------------------------------
    def emit(
        self,
        conn: Connection,
        event_type: str,
        subject: ev.Subject,
        now: datetime,
        extra: dict[str, Any] | None = None,
        txn: str | None = None,
    ) -> list[str]:
        """One SET per stream that delivers ``event_type`` (push and poll alike); returns
        their jtis. ``txn`` ties SETs of one cause together (default: one per call)."""
        if event_type not in ev.SUPPORTED:
            raise InvalidEvent(f"unsupported event type {event_type}")
        payload = ev.event_payload(event_type, now, extra)
        txn = txn or new_id()
        repo = SsfRepository(conn, self.vault)
        return [
            self._send(conn, repo, stream, event_type, subject, payload, now, txn)
            for stream in repo.for_event(event_type, subject)
        ]

    def emit_many(
        self,
        conn: Connection,
        events: list[tuple[str, dict[str, Any] | None]],
        subject: ev.Subject,
        now: datetime,
        txn: str,
        batch: OutboxBatch,
    ) -> list[str]:
        """``emit`` for several ``(event_type, extra)`` about one subject and one cause:
        the streams are read once and pushed SETs go into ``batch`` (the caller flushes)."""
        if any(t not in ev.SUPPORTED for t, _ in events):
            raise InvalidEvent(f"unsupported event type in {[t for t, _ in events]}")
        repo = SsfRepository(conn, self.vault)
        streams = repo.for_events([t for t, _ in events], subject)
        jtis = []
        for event_type, extra in events:
            payload = ev.event_payload(event_type, now, extra)
            for stream in streams[event_type]:
                jtis.append(
                    self._send(
                        conn, repo, stream, event_type, subject, payload, now, txn, batch=batch
                    )
                )
        return jtis

    def _send(
        self,
        conn: Connection,
        repo: SsfRepository,
        stream: Stream,
        event_type: str,
        subject: ev.Subject,
        payload: dict[str, Any],
        now: datetime,
        txn: str | None = None,
        force: bool = False,
        batch: OutboxBatch | None = None,
    ) -> str:
        jti = new_id().replace("-", "")
        claims = ev.set_claims(
            iss=self.issuer,
            aud=stream.aud,
            jti=jti,
            iat=now,
            sub_id=subject,
            event_type=event_type,
            event=payload,
            txn=txn,
        )
        token = self.signer(conn).sign(claims)
        repo.enqueue_set(stream, jti, token, now, force=force, batch=batch)
        return jti

    def verify(self, conn: Connection, stream: Stream, state: str | None, now: datetime) -> str:
        """SSF 1.0 section 8.1.4.1: sub_id is the stream itself, state echoed back."""
        repo = SsfRepository(conn, self.vault)
        payload = ev.event_payload(ev.VERIFICATION, now, {"state": state})
        jti = self._send(conn, repo, stream, ev.VERIFICATION, ev.opaque(stream.id), payload, now)
        repo.verified(stream.id, now)
        return jti

    def change_status(
        self, conn: Connection, stream: Stream, status: Status, reason: str | None, now: datetime
    ) -> Stream:
        """Apply a status change and tell the receiver with a stream-updated SET, sent
        before the stream stops and ahead of the events it held (section 8.1.5)."""
        repo = SsfRepository(conn, self.vault)
        if status is not stream.status:
            # Stop first, so the stream-updated SET is not itself held or dropped.
            if status is Status.PAUSED:
                repo.hold(stream.id, now)
            elif status is Status.DISABLED:
                repo.drop_queued(stream.id)
            extra = {"status": status.value, "reason": reason}
            payload = ev.event_payload(ev.STREAM_UPDATED, now, extra)
            sub_id = ev.opaque(stream.id)
            self._send(conn, repo, stream, ev.STREAM_UPDATED, sub_id, payload, now, force=True)
            if status is Status.ENABLED:
                repo.release(replace(stream, status=status), now)  # queued after the update
        repo.set_status(stream.id, status, reason, now)
        return replace(stream, status=status, reason=reason)

    # --- RFC 8935 push -----------------------------------------------------------------
    def push_sender(self, http: httpx.Client) -> Callable[[OutboxMessage], None]:
        def send(message: OutboxMessage) -> None:
            self._push(http, message)

        return send

    def _push(self, http: httpx.Client, message: OutboxMessage) -> None:
        jti, token = message.payload["jti"], message.payload["set"]
        with self.db.read() as conn:
            repo = SsfRepository(conn, self.vault)
            stream = repo.get(message.destination)
            auth = repo.authorization(stream) if stream is not None else None
        if stream is None:
            raise DeliveryFailed("stream deleted; SET dropped", retryable=False)
        forced = bool(message.payload.get("force"))  # stream-updated: sent whatever the status
        if stream.status is Status.DISABLED and not forced:
            raise DeliveryFailed("stream disabled; SET dropped (SSF 1.0 8.1.2.1)", retryable=False)
        paused = stream.status is Status.PAUSED and not forced
        if paused or stream.method == POLL or not stream.endpoint_url:
            # Paused (or switched to poll) after this SET was queued: keep it for later.
            with self.db.begin() as conn:
                SsfRepository(conn, self.vault).requeue_push(stream, jti, token, self.clock.now())
            log.info("ssf.push.requeued", stream_id=stream.id, jti=jti, status=stream.status)
            return
        headers = {"content-type": SET_MEDIA_TYPE, "accept": "application/json"}
        if auth:
            headers["authorization"] = auth
        post_set(http, stream.endpoint_url, token, headers)


def post_set(http: httpx.Client, url: str, token: str, headers: dict[str, str]) -> None:
    """RFC 8935 section 2: 202 means accepted. A 400 carries {err, description}: that
    SET will never be accepted, so it is not retried; auth failures and 5xx are (the
    receiver may fix its authorization_header or recover)."""
    try:
        resp = http.post(url, content=token.encode(), headers=headers)
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"{type(exc).__name__}: {exc}") from None
    if 200 <= resp.status_code < 300:
        return
    detail = _error_body(resp.content)
    if resp.status_code == 400:
        raise DeliveryFailed(f"receiver rejected the SET (400 {detail})", retryable=False)
    if resp.status_code == 410:
        raise DeliveryFailed("receiver answered 410 Gone", retryable=False)
    raise DeliveryFailed(f"receiver answered {resp.status_code} {detail}".rstrip())


def _error_body(raw: bytes) -> str:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return ""
    if not isinstance(body, dict):
        return ""
    return f"{body.get('err', '')}: {body.get('description', '')}"[:300]
