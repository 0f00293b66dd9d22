"""What one SCIM write operation runs with: the transaction, the caller, the clock.

The same operation functions serve a single HTTP request and one operation of a Bulk
request (which runs each in its own savepoint), so they take a :class:`Call`, not a
Starlette request.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, TypedDict, Unpack

from sqlalchemy import Connection
from starlette.requests import Request

from ostiary.audit.entries import EventFields
from ostiary.audit.events import Actor, AuditEvent, RequestInfo
from ostiary.keys.models import KeyPrincipal
from ostiary.scim.errors import Forbidden, PreconditionFailed
from ostiary.scim.registry import Registry, ResourceSchema, build_registry
from ostiary.store.db import unit_token
from ostiary.store.repositories.audit import (
    AuditLog,
    Prepared,
    append_prepared,
    prepare,
    prepare_event,
)
from ostiary.store.repositories.provisioning import ProvisioningRepository, ProvisioningTarget
from ostiary.web.audit import key_actor, request_info
from ostiary.web.context import AppContext

# Audited writes that change a User or Group downstream targets hold a copy of.
PROVISIONED = ("scim.user.", "scim.group.")
NOT_PROVISIONED = {"scim.user.reactivate"}  # always follows the update that queued already
AUDIT_ID_LIMIT = 1000  # membership ids listed in one event; the count is always exact
_TARGETS_MEMO = "ostiary_enabled_targets"  # conn.info: (unit token, targets)
_HELD_EVENTS = "ostiary_held_events"  # conn.info: a group commit's events (held_events)


@lru_cache(maxsize=4)
def registry_for(source: str | None) -> Registry:
    return build_registry(source)


def registry(ctx: AppContext) -> Registry:
    return registry_for(ctx.settings.scim_extensions)


def search_schema(ctx: AppContext, resource: str) -> ResourceSchema:
    """The names filters, sortBy and attributes resolve against for ``resource`` ("User"
    or "Group"), the configured extensions included."""
    kinds = registry(ctx)
    return kinds.user.search if resource == "User" else kinds.group.search


class Diff(TypedDict, total=False):
    """What an audit event records of a write besides its action and target."""

    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: dict[str, Any] | None
    after_json: bytes | None  # see AuditEvent: ``after``'s canonical JSON, when at hand
    after_clean: bool  # see AuditEvent: proved to hold no secret field


class ScopeDenied(Forbidden):
    """Raised inside a transaction; the denial is audited after it rolls back."""

    def __init__(self, needed: str, why: str) -> None:
        super().__init__(f"this key lacks the scope {needed!r} ({why})")
        self.needed = needed


@dataclass
class Call:
    conn: Connection
    base: str
    registry: Registry
    now: datetime
    actor: Actor
    scopes: frozenset[str]
    info: RequestInfo
    principal: KeyPrincipal | None = None  # None when an approved, held operation runs
    if_match: str | None = None
    events: int = field(default=0)
    # The process context, for fan-out that needs more than the connection (SSF, webhooks).
    ctx: AppContext | None = field(default=None, repr=False)
    # Outbound provisioning targets, read once per call (a Bulk request shares one call).
    _targets: list[ProvisioningTarget] | None = field(default=None, repr=False)
    # A Bulk request's events, appended together just before its commit (``deferred``).
    _deferred: list[AuditEvent] | None = field(default=None, repr=False)
    # A group commit's entries, appended together before its commit (``held_events``).
    _held: list[Prepared] | None = field(default=None, repr=False)

    def require(self, scope: str, why: str) -> None:
        if scope not in self.scopes:
            raise ScopeDenied(scope, why)

    def audit(
        self,
        action: str,
        target_type: str,
        target_id: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        after_json: bytes | None = None,
        after_clean: bool = False,
    ) -> None:
        """Append the event of this write (:meth:`event`'s parameters; every SCIM write
        calls this, so they are spelled out and passed on by position: a ``**diff``
        collected and spread again, and keyword arguments, cost ~5,000 instructions a
        write; docs/performance.md, session 10). Outside a Bulk request the entry is
        made from the fields (``prepare``) without an :class:`AuditEvent`: building the
        event cost ~7,000 instructions (docs/performance.md, session 12)."""
        # By position (AuditEvent's field order), once for both paths.
        fields: EventFields = (
            action, self.actor, "success", target_type, target_id, self.info, before, after,
            detail, after_json, after_clean,
        )  # fmt: skip
        if self._deferred is not None:
            event = AuditEvent(*fields)
            self._deferred.append(event)
            self._appended([event])
            return
        prepared = prepare(fields, self.now, self.conn.dialect.name == "postgresql")
        if self._held is not None:
            self._held.append(prepared)
        else:
            append_prepared(self.conn, [prepared])
        self._queue(action, target_type, target_id, after or before or {}, detail or {})

    def event(
        self,
        action: str,
        target_type: str,
        target_id: str,
        before: dict[str, Any] | None = None,
        after: dict[str, Any] | None = None,
        detail: dict[str, Any] | None = None,
        after_json: bytes | None = None,
        after_clean: bool = False,
    ) -> AuditEvent:
        """The event :meth:`audit` would append, for a caller that appends several."""
        # By position (AuditEvent's field order): ~4,300 instructions fewer than by keyword.
        return AuditEvent(
            action, self.actor, "success", target_type, target_id, self.info, before, after,
            detail, after_json, after_clean,
        )  # fmt: skip

    def audit_many(self, events: list[AuditEvent]) -> None:
        """Append ``events`` in order (one batch: a Bulk request's batched operations) and
        queue the downstream pushes each one calls for, in this transaction."""
        if self._deferred is not None:
            self._deferred.extend(events)
            self._appended(events)
            return
        if self._held is not None:
            pg = self.conn.dialect.name == "postgresql"
            self._held.extend(prepare_event(e, self.now, pg) for e in events)
            self._appended(events)
            return
        log = AuditLog(self.conn)
        if len(events) == 1:
            log.append(events[0], self.now)
        else:
            log.append_many([(e, self.now) for e in events])
        self._appended(events)

    @contextmanager
    def deferred(self) -> Iterator[list[AuditEvent]]:
        """Hold this call's events back and append them all on leaving (with whatever the
        caller adds to the yielded list), still in the transaction. Appending locks the
        audit head until the commit: a Bulk request of hundreds of operations would
        otherwise hold it from its first write, and concurrent Bulk requests would run
        one after another (issue 8's loads). Operations run in :meth:`savepoint`, so a
        failed one's events leave with its writes."""
        held: list[AuditEvent] = []
        self._deferred = held
        try:
            yield held
        finally:
            self._deferred = None
        if held:
            AuditLog(self.conn).append_many([(e, self.now) for e in held])

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        """One operation's savepoint: on an error its writes roll back, and so do the
        events it left for :meth:`deferred`."""
        mark = len(self._deferred) if self._deferred is not None else 0
        try:
            with self.conn.begin_nested():
                yield
        except BaseException:
            if self._deferred is not None:
                del self._deferred[mark:]
            raise

    def audit_event(
        self, action: str, target_type: str, target_id: str, **diff: Unpack[Diff]
    ) -> AuditEvent:
        """What ``audit`` does but the append: the caller appends the event itself, in
        this transaction (a deprovisioning batches its events with its own at the end)."""
        event = self.event(action, target_type, target_id, **diff)
        self._appended([event])
        return event

    def _appended(self, events: list[AuditEvent]) -> None:
        """Count ``events`` and queue the downstream pushes each one calls for."""
        for e in events:
            self._queue(e.action, e.target_type, e.target_id, e.after or e.before or {}, e.detail)

    def _queue(
        self,
        action: str,
        target_type: str | None,
        target_id: str | None,
        doc: dict[str, Any],
        detail: dict[str, Any],
    ) -> None:
        """Count one event and queue the downstream push it calls for."""
        self.events += 1
        if action.startswith(PROVISIONED) and action not in NOT_PROVISIONED:
            self._provision(action, target_type or "", target_id or "", doc, detail)

    def _provision(
        self, action: str, kind: str, rid: str, doc: dict[str, Any], detail: dict[str, Any]
    ) -> None:
        """Queue a push of the written resource to each downstream target, in this
        transaction: it commits (or rolls back, with a Bulk operation's savepoint) with the
        write. Adding or removing members of a target's filter group pushes those users."""
        repo = ProvisioningRepository(self.conn)
        if self._targets is None:
            self._targets = _enabled_targets(self.conn, repo)
        if not self._targets:
            return
        name = str(doc.get("userName") or doc.get("displayName") or "")
        repo.enqueue(kind, rid, name, self.now, self._targets)
        scoped = [t for t in self._targets if t.group_id == rid]
        if scoped and action.startswith("scim.group.members."):
            for user_id in detail.get("ids") or ():
                repo.enqueue("User", str(user_id), "", self.now, scoped)

    def check_version(self, version: int) -> None:
        check_if_match(self.if_match, version)


@contextmanager
def held_events(conn: Connection) -> Iterator[list[Prepared]]:
    """The audit entries of the calls made on ``conn`` inside (``new_call``), held and
    appended together on leaving, still in the transaction, in the order they were made.

    A group commit's creates share a transaction; appending each create's event on its own
    took the audit head's lock and two round trips per create on PostgreSQL, where one
    append of the batch's entries takes two per batch (``append_prepared``).
    The caller drops what an operation rolled back to its savepoint added (the yielded
    list is only appended to). If the append fails, the transaction does not commit."""
    held: list[Prepared] = []
    conn.info[_HELD_EVENTS] = held
    try:
        yield held
    finally:
        conn.info.pop(_HELD_EVENTS, None)
    if held:
        append_prepared(conn, held)


def _enabled_targets(conn: Connection, repo: ProvisioningRepository) -> list[ProvisioningTarget]:
    """The enabled targets, read once per transaction: the creates of a group commit
    share one (a Bulk request shares one call), and each asking was a round trip. The
    memo is keyed by the ``begin()`` unit, so it never outlives the transaction."""
    unit = unit_token(conn)
    memo = conn.info.get(_TARGETS_MEMO)
    if unit is not None and memo is not None and memo[0] is unit:
        return memo[1]  # type: ignore[no-any-return]
    targets = repo.enabled_targets()
    if unit is not None:
        conn.info[_TARGETS_MEMO] = (unit, targets)
    return targets


@dataclass(frozen=True)
class Outcome:
    """What an operation produced: the status, the body (None for 204) and the version."""

    status: int
    body: dict[str, Any] | None
    version: int | None = None
    location: str | None = None
    # ``body`` as canonical JSON (sorted keys) when the operation serialised it for its
    # audit event: the response reuses it when the projection leaves the body as it is.
    raw: bytes | None = None


def ids_detail(key: str, ids: list[str]) -> dict[str, Any]:
    return {key: ids[:AUDIT_ID_LIMIT], f"{key}_count": len(ids)}


def _tags(header: str) -> list[str]:
    return [t.strip() for t in header.split(",") if t.strip()]


def _weak(tag: str) -> str:
    return tag[2:] if tag.startswith(("W/", "w/")) else tag


def check_if_match(header: str | None, version: int) -> None:
    """RFC 7644 section 3.14 / RFC 9110 section 13.1.1: 412 unless a tag matches (weakly)."""
    if header is None:
        return
    current = f'"{version}"'
    tags = _tags(header)
    if "*" in tags or any(_weak(t) == current for t in tags):
        return
    raise PreconditionFailed(f'the resource is at version W/"{version}"')


def none_match(header: str | None, version: int) -> bool:
    """True when If-None-Match names the current version (GET answers 304)."""
    if header is None:
        return False
    tags = _tags(header)
    return "*" in tags or any(_weak(t) == f'"{version}"' for t in tags)


def audit_denial(ctx: AppContext, request: Request, principal: KeyPrincipal, needed: str) -> None:
    event = AuditEvent(
        action="auth.scope.denied",
        actor=key_actor(principal),
        outcome="denied",
        request=request_info(request),
        detail={"needed": needed, "method": request.method, "path": request.url.path},
    )
    with ctx.db.begin() as conn:
        AuditLog(conn).append(event, ctx.clock.now())


def new_call(ctx: AppContext, conn: Connection, request: Request, principal: KeyPrincipal) -> Call:
    return Call(
        conn=conn,
        base=ctx.scim_base,
        registry=registry(ctx),
        now=ctx.clock.now(),
        actor=key_actor(principal),
        scopes=principal.scopes,
        info=request_info(request),
        principal=principal,
        if_match=request.headers.get("if-match"),
        ctx=ctx,
        _held=conn.info.get(_HELD_EVENTS),
    )
