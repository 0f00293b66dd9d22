"""Running one SCIM write over HTTP: authenticate, one transaction, the response headers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ostiary.keys.models import KeyPrincipal
from ostiary.scim.schemas import CONTENT_TYPE
from ostiary.scim.users import etag
from ostiary.web.context import AppContext
from ostiary.web.scim.auth import authenticate
from ostiary.web.scim.batch import Done, GroupCommit
from ostiary.web.scim.call import (
    Call,
    Outcome,
    ScopeDenied,
    audit_denial,
    held_events,
    new_call,
    search_schema,
)
from ostiary.web.scim.projecting import projected
from ostiary.web.scim.responses import scim_json


def outcome_response(outcome: Outcome) -> Response:
    headers: dict[str, str] = {}
    if outcome.version is not None:
        headers["ETag"] = etag(outcome.version)
    if outcome.location:
        headers["Location"] = outcome.location
    if outcome.body is None:
        return Response(status_code=outcome.status, headers=headers)
    if outcome.raw is not None:
        return Response(outcome.raw, outcome.status, headers, CONTENT_TYPE)
    return scim_json(outcome.body, outcome.status, headers)


Before = Callable[[KeyPrincipal], Response | None]


def run_write(
    request: Request,
    scope: str,
    op: Callable[[Call], Outcome],
    before: Before | None = None,
    resource: str | None = None,
) -> Response:
    """``op`` runs in one transaction: it all commits, or (on any error) none of it does.

    ``before`` runs after authentication and outside the transaction (the key guards
    audit in their own): it raises to refuse, or returns a response (202 held) instead.
    A returned ``resource`` ("User"/"Group") is projected by the request's
    ``attributes``/``excludedAttributes`` (RFC 7644 section 3.9)."""
    ctx: AppContext = request.app.state.ctx
    principal = authenticate(request, scope)
    if before is not None:
        early = before(principal)
        if early is not None:
            return early
    try:
        with ctx.db.begin() as conn:
            outcome = op(new_call(ctx, conn, request, principal))
    except ScopeDenied as exc:
        audit_denial(ctx, request, principal, exc.needed)
        raise
    return _answer(request, ctx, outcome, resource)


async def run_write_grouped(
    request: Request,
    scope: str,
    op: Callable[[Call], Outcome],
    before: Before | None = None,
    resource: str | None = None,
) -> Response:
    """:func:`run_write` by group commit (see :mod:`ostiary.web.scim.batch`): ``op`` runs
    in its own savepoint of a transaction shared with the other writes waiting, and the
    response waits for that transaction's commit. Authentication and ``before`` run first,
    outside it: on the event loop with SQLite (in memory unless they refuse, as the SQLite
    lookup path does), on the batch's worker thread before its transaction with
    PostgreSQL (a cold key is a round trip; one thread hand-off serves the batch)."""
    ctx: AppContext = request.app.state.ctx
    admitted: list[KeyPrincipal] = []

    def admit() -> KeyPrincipal | Done:
        principal, early = _admit(request, scope, before)
        admitted.append(principal)
        return principal if early is None else Done(early)

    def write(conn: Connection, principal: KeyPrincipal) -> Outcome:
        return op(new_call(ctx, conn, request, principal))

    try:
        if ctx.db.dialect == "sqlite":
            principal = admit()
            if isinstance(principal, Done):
                return principal.value  # type: ignore[no-any-return]
            outcome = await _group_commit(request).run(lambda conn, _: write(conn, principal))
        else:
            outcome = await _group_commit(request).run(write, admit)
            if isinstance(outcome, Done):
                return outcome.value  # type: ignore[no-any-return]
    except ScopeDenied as exc:
        await run_in_threadpool(audit_denial, ctx, request, admitted[0], exc.needed)
        raise
    return _answer(request, ctx, outcome, resource)


def _admit(
    request: Request, scope: str, before: Before | None
) -> tuple[KeyPrincipal, Response | None]:
    principal = authenticate(request, scope)
    return principal, before(principal) if before is not None else None


def _group_commit(request: Request) -> GroupCommit:
    state = request.app.state
    batcher: GroupCommit | None = getattr(state, "scim_group_commit", None)
    if batcher is None:  # one per application (per process), made on first use
        batcher = state.scim_group_commit = GroupCommit(state.ctx.db, held_events)
    return batcher


def _answer(request: Request, ctx: AppContext, outcome: Outcome, resource: str | None) -> Response:
    # What the write queued is delivered now, not at the next poll: the commit woke the
    # outbox worker (outbox.QUEUED); a write that queued nothing does not wake it.
    if resource is not None and outcome.body is not None:
        body = projected(request, outcome.body, search_schema(ctx, resource))
        # The projection copies; an equal copy (nothing asked for, nothing returned
        # "never" present) is answered with the bytes the operation already made.
        if outcome.raw is None or body != outcome.body:
            outcome = replace(outcome, body=body, raw=None)
    return outcome_response(outcome)
