"""The audit admin API: search, events, checkpoints, RFC 9162 proofs, the public key.

Callers authenticate with an admin API token (``ostiary admin-tokens create --scope
audit:read``) holding the ``audit:read`` admin scope (admin roles, issue 9, can replace
:func:`audit_reader`). Handlers are sync: FastAPI runs them on
a worker thread, off the event loop.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request

from ostiary.audit.errors import AuditError
from ostiary.audit.merkle import consistency_proof, inclusion_path
from ostiary.audit.transport import read_witness
from ostiary.keys.admin_tokens import AUDIT_READ, AdminPrincipal, verify_admin_token
from ostiary.keys.errors import InsufficientScope, InvalidKey
from ostiary.store.repositories.admin_tokens import AdminTokenRepository
from ostiary.store.repositories.audit import AuditQuery, AuditReader
from ostiary.store.repositories.audit_integrity import CheckpointStore, Integrity, load_anchor
from ostiary.store.repositories.audit_outbox import checkpoint_and_witness
from ostiary.web.context import AppContext

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ostiary-admin"'}


def audit_reader(request: Request) -> AdminPrincipal:
    """An admin API token (``ost_at_...``) holding the ``audit:read`` scope."""
    ctx: AppContext = request.app.state.ctx
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "an admin API token is required", headers=CHALLENGE)
    try:
        with ctx.db.read() as conn:
            principal = verify_admin_token(
                token.strip(), AdminTokenRepository(conn), ctx.pepper, ctx.clock.now()
            )
        principal.require(AUDIT_READ)
    except InvalidKey:
        raise HTTPException(401, "invalid admin API token", headers=CHALLENGE) from None
    except InsufficientScope as exc:
        raise HTTPException(403, str(exc)) from None
    return principal


router = APIRouter(prefix="/api/v1/audit", tags=["audit"], dependencies=[Depends(audit_reader)])


def _ctx(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx


def _b64(items: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in items]


@router.get("/events")
def search_events(
    request: Request,
    actor: str | None = None,
    target: str | None = None,
    action: Annotated[str | None, Query(description="exact, or a prefix ending in *")] = None,
    outcome: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[int | None, Query(ge=0, description="next_cursor of the last page")] = None,
) -> dict[str, Any]:
    """Events oldest first, keyset-paginated by sequence number."""
    q = AuditQuery(actor, target, action, outcome, since, until, cursor, limit)
    with _ctx(request).db.read() as conn:
        events, next_cursor = AuditReader(conn).search(q)
    return {"events": events, "next_cursor": next_cursor}


@router.get("/events/{event_id}")
def get_event(request: Request, event_id: str) -> dict[str, Any]:
    with _ctx(request).db.read() as conn:
        event = AuditReader(conn).get(event_id)
    if event is None:
        raise HTTPException(404, f"no audit event {event_id}")
    return event


@router.get("/checkpoints")
def list_checkpoints(request: Request) -> dict[str, Any]:
    with _ctx(request).db.read() as conn:
        rows = CheckpointStore(conn).all()
    return {"checkpoints": [{"id": i, **cp.as_dict()} for i, cp in rows]}


@router.post("/checkpoints", status_code=201)
def create_checkpoint(request: Request) -> dict[str, Any]:
    """Sign a checkpoint now (also written periodically by ``ostiary audit worker``)."""
    ctx = _ctx(request)
    try:
        checkpoint_id, cp, errors = checkpoint_and_witness(
            ctx.db, ctx.vault, ctx.settings, ctx.clock.now()
        )
    except AuditError as exc:
        raise HTTPException(409, str(exc)) from None
    return {"id": checkpoint_id, **cp.as_dict(), "witness_errors": errors}


@router.get("/status")
def status(request: Request) -> dict[str, Any]:
    """Tree size, first retained position and the latest checkpoint."""
    with _ctx(request).db.read() as conn:
        size, _ = AuditReader(conn).head()
        latest = CheckpointStore(conn).latest()
        pruned = load_anchor(conn).frontier.size
    return {
        "tree_size": size,
        "first_position": pruned,
        "latest_checkpoint": latest[1].as_dict() if latest else None,
    }


@router.get("/verify")
def verify_log(request: Request) -> dict[str, Any]:
    """Recompute the whole tree and check every checkpoint (and the witness file, when
    configured): what ``ostiary audit verify --json`` prints. Reads every event."""
    ctx = _ctx(request)
    witness = ctx.settings.audit_witness_file
    try:
        witnessed = read_witness(witness) if witness and witness.exists() else []
    except AuditError as exc:
        raise HTTPException(500, f"the witness file is unreadable: {exc}") from None
    with ctx.db.read() as conn:
        report = Integrity(conn, ctx.vault).verify(witnessed)
    return report.as_dict()


@router.get("/public-key")
def public_key(request: Request) -> dict[str, str]:
    ctx = _ctx(request)
    with ctx.db.begin() as conn:
        key = Integrity(conn, ctx.vault).public_key()
    return {"alg": "Ed25519", "key_id": key.key_id, "pem": key.pem()}


@router.get("/proofs/inclusion")
def inclusion(
    request: Request,
    tree_size: Annotated[int, Query(ge=1)],
    event_id: str | None = None,
    leaf_index: Annotated[int | None, Query(ge=0)] = None,
) -> dict[str, Any]:
    """RFC 9162 section 2.1.3 inclusion proof of one event in the tree of ``tree_size``."""
    with _ctx(request).db.read() as conn:
        reader = AuditReader(conn)
        _check_size(reader, tree_size)
        if event_id is not None:
            leaf_index = reader.position_of(event_id)
            if leaf_index is None:
                raise HTTPException(404, f"no audit event {event_id}")
        if leaf_index is None or leaf_index >= tree_size:
            raise HTTPException(400, "give event_id or a leaf_index below tree_size")
        leaf = reader.leaf_hashes(leaf_index, leaf_index + 1)
        if not leaf:
            raise HTTPException(410, f"event {leaf_index} has been pruned")
        try:
            path = inclusion_path(
                leaf_index, tree_size, Integrity(conn, _ctx(request).vault).range_hashes(tree_size)
            )
        except AuditError as exc:
            raise HTTPException(410, str(exc)) from None
    return {
        "leaf_index": leaf_index,
        "tree_size": tree_size,
        "leaf_hash": _b64(leaf)[0],
        "inclusion_path": _b64(path),
    }


@router.get("/proofs/consistency")
def consistency(
    request: Request,
    first: Annotated[int, Query(ge=1)],
    second: Annotated[int, Query(ge=1)],
) -> dict[str, Any]:
    """RFC 9162 section 2.1.4 proof that the tree of ``first`` is a prefix of ``second``."""
    if first > second:
        raise HTTPException(400, "first must not exceed second")
    with _ctx(request).db.read() as conn:
        _check_size(AuditReader(conn), second)
        try:
            proof = consistency_proof(
                first, second, Integrity(conn, _ctx(request).vault).range_hashes(second)
            )
        except AuditError as exc:
            raise HTTPException(410, str(exc)) from None
    return {"first": first, "second": second, "consistency_path": _b64(proof)}


def _check_size(reader: AuditReader, size: int) -> None:
    head, _ = reader.head()
    if size > head:
        raise HTTPException(400, f"tree_size {size} exceeds the log's {head} events")
