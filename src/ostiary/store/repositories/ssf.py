"""SSF persistence: streams (owned by a receiver's key), the per-stream SET queue, the
hand-over between the queue and the outbox when a stream pauses or resumes, and the
transmitter's signing key (sealed in the vault)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection, Row, and_, delete, func, insert, or_, select, update

from ostiary.core.crypto.vault import Vault
from ostiary.core.ids import new_id
from ostiary.signals.outbox import Status as OutboxStatus
from ostiary.signals.ssf.signing import new_private_jwk
from ostiary.signals.ssf.streams import POLL, ReceiverConfig, Status, Stream
from ostiary.signals.ssf.subjects import matches, subject_key
from ostiary.store.repositories.outbox import OutboxBatch, OutboxRepository
from ostiary.store.repositories.vault import SecretRepository
from ostiary.store.tables_signals import outbox
from ostiary.store.tables_ssf import ssf_excluded_subjects as x
from ostiary.store.tables_ssf import ssf_queue as q
from ostiary.store.tables_ssf import ssf_streams as s

PUSH_TOPIC = "ssf.push"
SIGNING_KEY = "ssf.set_signing_key.es256"
PENDING, HELD, ERROR = "pending", "held", "error"


def signing_jwk(conn: Connection, vault: Vault) -> dict[str, Any]:
    """The transmitter's private key as a JWK, created (and sealed) on first use."""
    raw = SecretRepository(conn, vault).get_or_create(
        SIGNING_KEY, lambda: orjson.dumps(new_private_jwk())
    )
    return dict(orjson.loads(raw))


def _stream(r: Row[Any]) -> Stream:
    return Stream(
        id=r.id,
        owner=r.owner_key_id,
        aud=r.aud,
        method=r.method,
        endpoint_url=r.endpoint_url,
        events_requested=list(r.events_requested),
        description=r.description,
        status=Status(r.status),
        reason=r.reason,
        created_at=r.created_at,
        updated_at=r.updated_at,
        last_verification_at=r.last_verification_at,
        authorization_sealed=r.authorization_sealed,
    )


def _context(stream_id: str) -> str:
    return f"ssf-stream:{stream_id}:authorization_header"


class SsfRepository:
    def __init__(self, conn: Connection, vault: Vault) -> None:
        self._conn = conn
        self._vault = vault

    # --- streams -------------------------------------------------------------------
    def create(self, owner: str, aud: str, cfg: ReceiverConfig, now: datetime) -> Stream:
        assert cfg.delivery is not None and cfg.events_requested is not None
        stream_id = new_id().replace("-", "")  # RFC 3986 unreserved characters only
        auth = cfg.delivery.authorization_header
        self._conn.execute(
            insert(s).values(
                id=stream_id,
                owner_key_id=owner,
                aud=aud,
                method=cfg.delivery.method,
                endpoint_url=cfg.delivery.endpoint_url,
                authorization_sealed=self._vault.seal(auth.encode(), _context(stream_id))
                if auth
                else None,
                events_requested=cfg.events_requested,
                description=cfg.description,
                status=Status.ENABLED.value,
                created_at=now,
                updated_at=now,
            )
        )
        stream = self.get(stream_id)
        assert stream is not None
        return stream

    def get(self, stream_id: str, owner: str | None = None) -> Stream | None:
        stmt = select(s).where(s.c.id == stream_id)
        if owner is not None:
            stmt = stmt.where(s.c.owner_key_id == owner)
        row = self._conn.execute(stmt).first()
        return None if row is None else _stream(row)

    def all(self, owner: str | None = None) -> list[Stream]:
        stmt = select(s).order_by(s.c.created_at, s.c.id)
        if owner is not None:
            stmt = stmt.where(s.c.owner_key_id == owner)
        return [_stream(r) for r in self._conn.execute(stmt)]

    def count(self, owner: str) -> int:
        stmt = select(func.count()).select_from(s).where(s.c.owner_key_id == owner)
        return int(self._conn.execute(stmt).scalar() or 0)

    def update(self, stream: Stream, cfg: ReceiverConfig, now: datetime) -> Stream:
        values: dict[str, Any] = {"updated_at": now, "description": cfg.description}
        if cfg.events_requested is not None:
            values["events_requested"] = cfg.events_requested
        if cfg.delivery is not None:
            auth = cfg.delivery.authorization_header
            values["method"] = cfg.delivery.method
            values["endpoint_url"] = cfg.delivery.endpoint_url
            values["authorization_sealed"] = (
                self._vault.seal(auth.encode(), _context(stream.id)) if auth else None
            )
        self._conn.execute(update(s).where(s.c.id == stream.id).values(**values))
        updated = self.get(stream.id)
        assert updated is not None
        return updated

    def set_status(self, stream_id: str, status: Status, reason: str | None, now: datetime) -> None:
        stmt = update(s).where(s.c.id == stream_id)
        self._conn.execute(stmt.values(status=status.value, reason=reason, updated_at=now))

    def verified(self, stream_id: str, now: datetime) -> None:
        self._conn.execute(update(s).where(s.c.id == stream_id).values(last_verification_at=now))

    def delete(self, stream_id: str) -> None:
        self.drop_queued(stream_id)
        self._conn.execute(delete(q).where(q.c.stream_id == stream_id))
        self._conn.execute(delete(x).where(x.c.stream_id == stream_id))
        self._conn.execute(delete(s).where(s.c.id == stream_id))

    def authorization(self, stream: Stream) -> str | None:
        if not stream.authorization_sealed:
            return None
        return self._vault.open(stream.authorization_sealed, _context(stream.id)).decode()

    def for_event(self, event_type: str, subject: dict[str, Any]) -> list[Stream]:
        """Streams an event goes to: not disabled, delivering the type, and not having
        removed the subject. (events_requested is JSON, so those filters run here.)"""
        return self.for_events([event_type], subject)[event_type]

    def for_events(
        self, event_types: list[str], subject: dict[str, Any]
    ) -> dict[str, list[Stream]]:
        """``for_event`` for several types about one subject: one read, the streams with
        their excluded subjects joined (a stream with none comes once, with NULL)."""
        stmt = (
            select(s, x.c.subject.label("excluded_subject"))
            .outerjoin(x, x.c.stream_id == s.c.id)
            .where(s.c.status != Status.DISABLED.value)
            .order_by(s.c.created_at, s.c.id)
        )
        live: dict[str, Stream] = {}
        excluded: set[str] = set()
        for r in self._conn.execute(stmt):
            live.setdefault(r.id, _stream(r))
            if r.excluded_subject is not None and matches(r.excluded_subject, subject):
                excluded.add(r.id)
        kept = [st for st in live.values() if st.id not in excluded]
        return {t: [st for st in kept if st.wants(t)] for t in event_types}

    def exclude_subject(self, stream_id: str, subject: dict[str, Any], now: datetime) -> None:
        key = subject_key(subject)
        found = select(x.c.subject_key).where(x.c.stream_id == stream_id, x.c.subject_key == key)
        if self._conn.execute(found).first() is None:
            self._conn.execute(
                insert(x).values(
                    stream_id=stream_id, subject_key=key, subject=subject, created_at=now
                )
            )

    def include_subject(self, stream_id: str, subject: dict[str, Any]) -> None:
        key = subject_key(subject)
        self._conn.execute(delete(x).where(x.c.stream_id == stream_id, x.c.subject_key == key))

    # --- the SET queue ---------------------------------------------------------------
    def enqueue_set(
        self,
        stream: Stream,
        jti: str,
        token: str,
        now: datetime,
        *,
        force: bool = False,
        batch: OutboxBatch | None = None,
    ) -> None:
        """Route one signed SET by the stream's state: push via the outbox, poll into
        the queue, held while paused, dropped while disabled. ``force`` (stream-updated)
        goes out whatever the status: the receiver must hear that the stream stopped."""
        if stream.status is Status.DISABLED and not force:
            return
        if stream.status is Status.PAUSED and not force:
            self._queue(stream.id, jti, token, HELD, now)
        elif stream.method == POLL:
            self._queue(stream.id, jti, token, PENDING, now)
        else:
            payload = {"jti": jti, "set": token} | ({"force": True} if force else {})
            if batch is not None:  # the caller flushes it
                batch.add(PUSH_TOPIC, stream.id, payload)
            else:
                OutboxRepository(self._conn).enqueue(PUSH_TOPIC, stream.id, payload, now)

    def _queue(self, stream_id: str, jti: str, token: str, status: str, now: datetime) -> None:
        self._conn.execute(
            insert(q).values(
                jti=jti, stream_id=stream_id, token=token, status=status, created_at=now
            )
        )

    def _pending_pushes(self, stream_id: str, now: datetime) -> Any:
        # Queued, not leased by a worker mid-send: safe to take back from the outbox.
        return and_(
            outbox.c.topic == PUSH_TOPIC,
            outbox.c.destination == stream_id,
            outbox.c.status == OutboxStatus.PENDING.value,
            or_(outbox.c.locked_until.is_(None), outbox.c.locked_until <= now),
        )

    def hold(self, stream_id: str, now: datetime) -> int:
        """Pausing: pending poll SETs and not-yet-sent pushes become held."""
        moved = self._conn.execute(
            update(q).where(q.c.stream_id == stream_id, q.c.status == PENDING).values(status=HELD)
        ).rowcount
        stmt = select(outbox).where(self._pending_pushes(stream_id, now))
        if self._conn.dialect.name == "postgresql":
            # A worker claiming these right now keeps them (and sends them pre-pause).
            stmt = stmt.with_for_update(skip_locked=True)
        rows = self._conn.execute(stmt.order_by(outbox.c.created_at)).all()
        rows = [r for r in rows if not r.payload.get("force")]  # stream-updated still goes
        for r in rows:
            self._queue(stream_id, r.payload["jti"], r.payload["set"], HELD, r.created_at)
        if rows:
            self._conn.execute(delete(outbox).where(outbox.c.id.in_([r.id for r in rows])))
        return int(moved or 0) + len(rows)

    def release(self, stream: Stream, now: datetime) -> int:
        """Enabling: held SETs go out in the order they were made (SSF 1.0 8.1.2.1)."""
        if stream.method == POLL:
            mine = and_(q.c.stream_id == stream.id, q.c.status == HELD)
            return int(self._conn.execute(update(q).where(mine).values(status=PENDING)).rowcount)
        return self._to_outbox(stream.id, HELD, now)

    def pending_to_push(self, stream: Stream, now: datetime) -> int:
        """A poll stream switched to push: what waited to be polled is pushed instead."""
        return self._to_outbox(stream.id, PENDING, now) if stream.status is Status.ENABLED else 0

    def _to_outbox(self, stream_id: str, status: str, now: datetime) -> int:
        rows = self._conn.execute(
            select(q)
            .where(q.c.stream_id == stream_id, q.c.status == status)
            .order_by(q.c.created_at, q.c.jti)
        ).all()
        box = OutboxRepository(self._conn)
        for i, r in enumerate(rows):
            # Distinct due times keep the worker's claim order equal to event order.
            due = now + timedelta(microseconds=i + 1)  # after a stream-updated at now
            box.enqueue(PUSH_TOPIC, stream_id, {"jti": r.jti, "set": r.token}, due)
        if rows:
            self._conn.execute(delete(q).where(q.c.jti.in_([r.jti for r in rows])))
        return len(rows)

    def drop_queued(self, stream_id: str) -> int:
        """Disabling: nothing is held for later (SSF 1.0 section 8.1.2.1)."""
        n = self._conn.execute(
            delete(q).where(q.c.stream_id == stream_id, q.c.status.in_([PENDING, HELD]))
        ).rowcount
        cond = and_(
            outbox.c.topic == PUSH_TOPIC,
            outbox.c.destination == stream_id,
            outbox.c.status == OutboxStatus.PENDING.value,
        )
        m = self._conn.execute(delete(outbox).where(cond)).rowcount
        return int(n or 0) + int(m or 0)

    def requeue_push(self, stream: Stream, jti: str, token: str, now: datetime) -> None:
        """A push the worker claimed just as the stream paused or switched to poll."""
        exists = self._conn.execute(select(q.c.jti).where(q.c.jti == jti)).first()
        if exists is None:
            self._queue(
                stream.id, jti, token, HELD if stream.status is Status.PAUSED else PENDING, now
            )

    # --- RFC 8936 poll ----------------------------------------------------------------
    def acknowledge(self, stream_id: str, acks: list[str], errs: dict[str, dict[str, str]]) -> None:
        mine = and_(q.c.stream_id == stream_id, q.c.status == PENDING)
        if acks:
            self._conn.execute(delete(q).where(mine, q.c.jti.in_(acks)))
        for jti, detail in errs.items():
            self._conn.execute(
                update(q)
                .where(mine, q.c.jti == jti)
                .values(status=ERROR, err=detail["err"], description=detail["description"])
            )

    def pending(self, stream_id: str, limit: int) -> tuple[dict[str, str], bool]:
        stmt = (
            select(q.c.jti, q.c.token)
            .where(q.c.stream_id == stream_id, q.c.status == PENDING)
            .order_by(q.c.created_at, q.c.jti)
            .limit(limit + 1)
        )
        rows = self._conn.execute(stmt).all()
        return {r.jti: r.token for r in rows[:limit]}, len(rows) > limit

    def queue_counts(self, stream_id: str) -> dict[str, int]:
        stmt = (
            select(q.c.status, func.count()).where(q.c.stream_id == stream_id).group_by(q.c.status)
        )
        found = {status: int(n) for status, n in self._conn.execute(stmt)}
        pushes = (
            select(func.count())
            .select_from(outbox)
            .where(
                outbox.c.topic == PUSH_TOPIC,
                outbox.c.destination == stream_id,
                outbox.c.status == OutboxStatus.PENDING.value,
            )
        )
        found["outbox"] = int(self._conn.execute(pushes).scalar() or 0)
        return {k: found.get(k, 0) for k in (PENDING, HELD, ERROR, "outbox")}
