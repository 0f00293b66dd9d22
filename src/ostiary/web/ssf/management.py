"""Discovery and the Stream Management API (SSF 1.0 sections 7 and 8). Every change is
audited in the transaction that makes it; a receiver only ever sees its own streams."""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import Connection
from starlette.requests import Request
from starlette.responses import Response

from ostiary.audit.events import AuditEvent
from ostiary.keys.models import KeyPrincipal
from ostiary.signals.ssf import streams as st
from ostiary.signals.ssf.errors import InvalidRequest, StreamLimit, StreamNotFound, TooFrequent
from ostiary.signals.ssf.subjects import parse_subject, subject_key
from ostiary.store.repositories.audit import AuditLog
from ostiary.store.repositories.ssf import SsfRepository
from ostiary.web.audit import key_actor, request_info
from ostiary.web.context import AppContext
from ostiary.web.ssf.auth import authenticate
from ostiary.web.ssf.http import empty, json_response, ssf_endpoint


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _doc(ctx: AppContext, stream: st.Stream) -> dict[str, Any]:
    return st.config_document(
        stream,
        ctx.settings.issuer,
        ctx.ssf().poll_url(stream.id),
        ctx.settings.ssf_min_verification_interval,
    )


def _audit(
    conn: Connection,
    ctx: AppContext,
    request: Request,
    principal: KeyPrincipal,
    action: str,
    stream_id: str,
    **facts: Any,
) -> None:
    event = AuditEvent(
        action=action,
        actor=key_actor(principal),
        target_type="ssf_stream",
        target_id=stream_id,
        request=request_info(request),
        before=facts.pop("before", None),
        after=facts.pop("after", None),
        detail=facts,
    )
    AuditLog(conn).append(event, ctx.clock.now())


def _kick(ctx: AppContext) -> None:
    """Push what a request just queued now, not at the worker's next poll."""
    if ctx._outbox is not None:
        ctx._outbox.kick()


def _own(repo: SsfRepository, principal: KeyPrincipal, stream_id: Any) -> st.Stream:
    if not isinstance(stream_id, str) or not stream_id:
        raise InvalidRequest("stream_id is required")
    stream = repo.get(stream_id, owner=principal.key_id)
    if stream is None:
        raise StreamNotFound(stream_id)
    return stream


@ssf_endpoint
def configuration(request: Request, _body: Any) -> Response:
    """SSF 1.0 section 7.1: the Transmitter Configuration Metadata."""
    base = _ctx(request).settings.issuer
    return json_response(
        {
            "spec_version": "1_0",
            "issuer": base,
            "jwks_uri": f"{base}/ssf/jwks",
            "delivery_methods_supported": list(st.METHODS),
            "configuration_endpoint": f"{base}/ssf/stream",
            "status_endpoint": f"{base}/ssf/status",
            "verification_endpoint": f"{base}/ssf/verify",
            "add_subject_endpoint": f"{base}/ssf/subjects:add",
            "remove_subject_endpoint": f"{base}/ssf/subjects:remove",
            # Receivers present a bearer provisioning key (RFC 6750 over RFC 6749).
            "authorization_schemes": [{"spec_urn": "urn:ietf:rfc:6749"}],
            "default_subjects": "ALL",
        }
    )


@ssf_endpoint
def jwks(request: Request, _body: Any) -> Response:
    return json_response(_ctx(request).ssf().signer().public_jwks())


@ssf_endpoint
def stream(request: Request, body: Any) -> Response:
    method = request.method
    if method == "POST":
        return _create(request, body)
    if method == "GET":
        return _read(request)
    if method == "DELETE":
        return _delete(request)
    return _update(request, body, replace=method == "PUT")


def _create(request: Request, body: Any) -> Response:
    ctx, principal = _ctx(request), authenticate(request)
    cfg = st.parse_create(body, ctx.settings.ssf_allow_insecure_push)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        repo = SsfRepository(conn, ctx.vault)
        if repo.count(principal.key_id) >= ctx.settings.ssf_max_streams_per_receiver:
            raise StreamLimit("this receiver has reached its stream limit")
        # aud is the receiver's key id: stable, known to the receiver (it is in the key).
        created = repo.create(principal.key_id, principal.key_id, cfg, now)
        doc = _doc(ctx, created)
        _audit(conn, ctx, request, principal, "ssf.stream.create", created.id, after=doc)
    return json_response(doc, 201)


def _read(request: Request) -> Response:
    ctx, principal = _ctx(request), authenticate(request)
    stream_id = request.query_params.get("stream_id")
    with ctx.db.read() as conn:
        repo = SsfRepository(conn, ctx.vault)
        if stream_id is None:
            return json_response([_doc(ctx, s) for s in repo.all(owner=principal.key_id)])
        return json_response(_doc(ctx, _own(repo, principal, stream_id)))


def _update(request: Request, body: Any, *, replace: bool) -> Response:
    ctx, principal = _ctx(request), authenticate(request)
    stream_id = st.stream_id_of(body)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        repo = SsfRepository(conn, ctx.vault)
        current = _own(repo, principal, stream_id)
        before = _doc(ctx, current)
        cfg = st.parse_update(body, before, ctx.settings.ssf_allow_insecure_push, replace=replace)
        updated = repo.update(current, cfg, now)
        if current.method == st.POLL and updated.method == st.PUSH:
            repo.pending_to_push(updated, now)  # queued for polling: push them instead
        after = _doc(ctx, updated)
        action = "ssf.stream.replace" if replace else "ssf.stream.update"
        _audit(conn, ctx, request, principal, action, stream_id, before=before, after=after)
    return json_response(after)


def _delete(request: Request) -> Response:
    ctx, principal = _ctx(request), authenticate(request)
    with ctx.db.begin() as conn:
        repo = SsfRepository(conn, ctx.vault)
        gone = _own(repo, principal, request.query_params.get("stream_id"))
        before = _doc(ctx, gone)
        repo.delete(gone.id)
        _audit(conn, ctx, request, principal, "ssf.stream.delete", gone.id, before=before)
    return empty(204)


def _status_doc(stream: st.Stream) -> dict[str, Any]:
    doc = {"stream_id": stream.id, "status": stream.status.value}
    if stream.reason:
        doc["reason"] = stream.reason
    return doc


@ssf_endpoint
def status(request: Request, body: Any) -> Response:
    """SSF 1.0 section 8.1.2: read (GET) or update (POST) a stream's status."""
    ctx, principal = _ctx(request), authenticate(request)
    if request.method == "GET":
        with ctx.db.read() as conn:
            found = _own(
                SsfRepository(conn, ctx.vault), principal, request.query_params.get("stream_id")
            )
        return json_response(_status_doc(found))
    stream_id, new_status, reason = st.parse_status(body)
    now = ctx.clock.now()
    with ctx.db.begin() as conn:
        current = _own(SsfRepository(conn, ctx.vault), principal, stream_id)
        updated = ctx.ssf().change_status(conn, current, new_status, reason, now)
        _audit(
            conn,
            ctx,
            request,
            principal,
            "ssf.stream.status",
            stream_id,
            before=_status_doc(current),
            after=_status_doc(updated),
        )
    _kick(ctx)
    return json_response(_status_doc(updated))


@ssf_endpoint
def verify(request: Request, body: Any) -> Response:
    """SSF 1.0 section 8.1.4.2: queue a verification event; 429 faster than
    min_verification_interval."""
    ctx, principal = _ctx(request), authenticate(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    state = body.get("state")
    if state is not None and (not isinstance(state, str) or len(state) > 1000):
        raise InvalidRequest("state must be a string of at most 1000 characters")
    now = ctx.clock.now()
    interval = ctx.settings.ssf_min_verification_interval
    with ctx.db.begin() as conn:
        current = _own(SsfRepository(conn, ctx.vault), principal, body.get("stream_id"))
        last = current.last_verification_at
        if last is not None and (now - last).total_seconds() < interval:
            wait = math.ceil(interval - (now - last).total_seconds())
            raise TooFrequent(f"at most one verification every {interval} seconds", wait)
        jti = ctx.ssf().verify(conn, current, state, now)
        _audit(conn, ctx, request, principal, "ssf.stream.verify", current.id, jti=jti)
    _kick(ctx)
    return empty(204)


def _subject_change(request: Request, body: Any, *, add: bool) -> Response:
    ctx, principal = _ctx(request), authenticate(request)
    if not isinstance(body, dict):
        raise InvalidRequest("the body must be a JSON object")
    subject = parse_subject(body.get("subject"))
    if "verified" in body and not isinstance(body["verified"], bool):
        raise InvalidRequest("verified must be a boolean")
    with ctx.db.begin() as conn:
        repo = SsfRepository(conn, ctx.vault)
        current = _own(repo, principal, body.get("stream_id"))
        if add:
            repo.include_subject(current.id, subject)
        else:
            repo.exclude_subject(current.id, subject, ctx.clock.now())
        # The subject may be personal data: the immutable audit trail keeps its hash.
        action = "ssf.subject.add" if add else "ssf.subject.remove"
        _audit(conn, ctx, request, principal, action, current.id, subject=subject_key(subject))
    return empty(200 if add else 204)


@ssf_endpoint
def add_subject(request: Request, body: Any) -> Response:
    """SSF 1.0 section 8.1.3.2: 200, events about the subject flow (again)."""
    return _subject_change(request, body, add=True)


@ssf_endpoint
def remove_subject(request: Request, body: Any) -> Response:
    """SSF 1.0 section 8.1.3.3: 204, no more events about the subject."""
    return _subject_change(request, body, add=False)
