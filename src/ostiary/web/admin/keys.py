"""Admin REST API for provisioning keys and held approvals (``/api/v1/keys``).

Callers authenticate with an admin API token (``Authorization: Bearer ost_at_...``,
created by ``ostiary admin-tokens create``). Its admin scopes gate each route; its
provisioning scopes cap what keys it may mint or rotate (nobody obtains a key broader
than what they hold). Every action is audited with the token as the acting identity.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field

from ostiary.audit.events import Actor
from ostiary.core.durations import parse_duration
from ostiary.core.errors import Conflict, NotFound
from ostiary.keys import admin_tokens as at
from ostiary.keys.admin_tokens import AdminPrincipal, verify_admin_token
from ostiary.keys.errors import InsufficientScope, InvalidKey, PolicyViolation
from ostiary.keys.models import KeyStatus
from ostiary.keys.scopes import check_grantable, validate_scopes
from ostiary.store.repositories.admin_tokens import AdminTokenRepository
from ostiary.web.audit import request_info
from ostiary.web.keys import approvals, wiring
from ostiary.web.keys.leaks import report_leak
from ostiary.web.keys.service import build_binding, key_summary

router = APIRouter(prefix="/api/v1", tags=["keys"])
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ostiary-admin"'}


def _admin(request: Request) -> AdminPrincipal:
    ctx = request.app.state.ctx
    header = request.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(401, "an admin API token is required", headers=CHALLENGE)
    try:
        with ctx.db.read() as conn:
            return verify_admin_token(
                token.strip(), AdminTokenRepository(conn), ctx.pepper, ctx.clock.now()
            )
    except InvalidKey:
        raise HTTPException(401, "invalid admin API token", headers=CHALLENGE) from None


Admin = Annotated[AdminPrincipal, Depends(_admin)]


def _need(admin: AdminPrincipal, scope: str) -> Actor:
    try:
        admin.require(scope)
    except InsufficientScope as exc:
        raise HTTPException(403, str(exc)) from None
    return Actor(kind="admin", id=admin.token_id, auth="admin_token")


def _duration(text: str | None, name: str) -> timedelta | None:
    if text is None:
        return None
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


def _errors(exc: Exception) -> HTTPException:
    if isinstance(exc, NotFound):
        return HTTPException(404, str(exc))
    if isinstance(exc, Conflict):
        return HTTPException(409, str(exc))
    return HTTPException(400, str(exc))


class Delivery(BaseModel):
    kind: Literal["webhook", "file"]
    url: str | None = None
    path: str | None = None


class Binding(BaseModel):
    require_dpop: bool = False
    allowed_cidrs: list[str] = Field(default_factory=list, max_length=100)
    attributes: dict[str, list[str]] | None = None
    rotate_every: str | None = Field(None, description="e.g. 30d")
    rotation_overlap: str = "24h"
    deliver_to: Delivery | None = None


class KeyCreate(Binding):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(min_length=1, max_length=20)
    expires_in: str | None = Field(None, description="lifetime, e.g. 90d (policy maximum)")
    description: str = Field("", max_length=2000)
    owner: str | None = Field(
        None,
        max_length=256,
        description="user id or userName: deprovisioning that user revokes this key",
    )


class RotateRequest(BaseModel):
    overlap: str = Field("24h", description="how long the previous secret keeps working")


def _grantable(scopes: Any, admin: AdminPrincipal) -> None:
    """403 when the caller asks for a key broader than its own provisioning scopes."""
    try:
        requested = validate_scopes(list(scopes))
    except PolicyViolation as exc:
        raise HTTPException(400, str(exc)) from None
    try:
        check_grantable(requested, admin.key_scopes)
    except PolicyViolation as exc:
        raise HTTPException(403, str(exc)) from None


def _binding(body: Binding, ctx: Any, base: Any = None) -> Any:
    return build_binding(
        require_dpop=body.require_dpop,
        allowed_cidrs=body.allowed_cidrs,
        attributes=body.attributes,
        rotate_every=_duration(body.rotate_every, "rotate_every"),
        rotation_overlap=_duration(body.rotation_overlap, "rotation_overlap") or timedelta(0),
        delivery=body.deliver_to.model_dump(exclude_none=True) if body.deliver_to else None,
        now=ctx.clock.now(),
        base=base,
    )


@router.post("/keys", status_code=201)
def create_key(body: KeyCreate, request: Request, admin: Admin) -> dict[str, Any]:
    """Create a key. The secret (``key``) is in this response only."""
    actor = _need(admin, at.KEYS_WRITE)
    _grantable(body.scopes, admin)
    ctx = request.app.state.ctx
    try:
        new = wiring.service(ctx).create(
            actor,
            name=body.name,
            scopes=body.scopes,
            lifetime=_duration(body.expires_in, "expires_in"),
            description=body.description,
            held_scopes=admin.key_scopes,
            binding=_binding(body, ctx),
            request=request_info(request),
            owner=body.owner,
        )
    except PolicyViolation as exc:
        raise _errors(exc) from None
    return {**key_summary(new.record), "key": new.token}


@router.get("/keys")
def list_keys(request: Request, admin: Admin) -> list[dict[str, Any]]:
    """All keys (never their secrets)."""
    _need(admin, at.KEYS_READ)
    return [key_summary(r) for r in wiring.service(request.app.state.ctx).all_keys()]


@router.get("/keys/{key_id}")
def show_key(key_id: str, request: Request, admin: Admin) -> dict[str, Any]:
    _need(admin, at.KEYS_READ)
    try:
        return key_summary(wiring.service(request.app.state.ctx).get(key_id))
    except NotFound as exc:
        raise _errors(exc) from None


@router.patch("/keys/{key_id}")
def update_key(key_id: str, body: Binding, request: Request, admin: Admin) -> dict[str, Any]:
    """Replace the key's binding: require DPoP, CIDR allow-list, attribute restrictions,
    scheduled rotation and its delivery destination."""
    actor = _need(admin, at.KEYS_WRITE)
    ctx = request.app.state.ctx
    svc = wiring.service(ctx)
    try:
        record = svc.get(key_id)
        binding = _binding(body, ctx, record.binding)
        return key_summary(svc.update_binding(actor, key_id, binding, request_info(request)))
    except (NotFound, PolicyViolation) as exc:
        raise _errors(exc) from None


@router.post("/keys/{key_id}/rotate")
def rotate_key(key_id: str, body: RotateRequest, request: Request, admin: Admin) -> dict[str, Any]:
    """Issue a successor secret; the previous one works until the overlap ends."""
    actor = _need(admin, at.KEYS_WRITE)
    svc = wiring.service(request.app.state.ctx)
    overlap = _duration(body.overlap, "overlap") or timedelta(0)
    try:
        _grantable(svc.get(key_id).scopes, admin)
        rot, record = svc.rotate(actor, key_id, overlap, request_info(request))
    except (NotFound, PolicyViolation) as exc:
        raise _errors(exc) from None
    return {**key_summary(record), "key": rot.token}


def _status(
    key_id: str, status: KeyStatus, request: Request, admin: Admin, scope: str
) -> dict[str, Any]:
    actor = _need(admin, scope)
    svc = wiring.service(request.app.state.ctx)
    try:
        return key_summary(svc.set_status(actor, key_id, status, request=request_info(request)))
    except (NotFound, PolicyViolation) as exc:
        raise _errors(exc) from None


@router.post("/keys/{key_id}/disable")
def disable_key(key_id: str, request: Request, admin: Admin) -> dict[str, Any]:
    """Disable (reversible)."""
    return _status(key_id, KeyStatus.DISABLED, request, admin, at.KEYS_WRITE)


@router.post("/keys/{key_id}/enable")
def enable_key(key_id: str, request: Request, admin: Admin) -> dict[str, Any]:
    return _status(key_id, KeyStatus.ACTIVE, request, admin, at.KEYS_WRITE)


@router.post("/keys/{key_id}/revoke")
def revoke_key(key_id: str, request: Request, admin: Admin) -> dict[str, Any]:
    """Revoke (final)."""
    return _status(key_id, KeyStatus.REVOKED, request, admin, at.KEYS_REVOKE)


class LeakReport(BaseModel):
    token: str = Field(min_length=1, max_length=200)
    url: str | None = Field(None, max_length=2000)


@router.post("/keys/report-leak")
def admin_report_leak(body: LeakReport, request: Request, admin: Admin) -> dict[str, Any]:
    """Report a leaked key by its full value: revoked at once if it is live."""
    actor = _need(admin, at.KEYS_REVOKE)
    svc = wiring.service(request.app.state.ctx)
    return report_leak(
        svc, body.token, actor, source="admin", url=body.url, request=request_info(request)
    )


@router.get("/approvals", tags=["approvals"])
def list_approvals(request: Request, admin: Admin, status: str | None = "pending") -> list[Any]:
    """Operations held for a second administrator (deprovisioning bursts)."""
    _need(admin, at.APPROVALS)
    return approvals.list_approvals(request.app.state.ctx.db, status)


def _decide(approval_id: str, approve: bool, request: Request, admin: Admin) -> dict[str, Any]:
    actor = _need(admin, at.APPROVALS)
    try:
        return approvals.decide(request.app.state.ctx, approval_id, approve, actor)
    except (NotFound, Conflict) as exc:
        raise _errors(exc) from None


@router.post("/approvals/{approval_id}/approve", tags=["approvals"])
def approve(approval_id: str, request: Request, admin: Admin) -> dict[str, Any]:
    return _decide(approval_id, True, request, admin)


@router.post("/approvals/{approval_id}/deny", tags=["approvals"])
def deny(approval_id: str, request: Request, admin: Admin) -> dict[str, Any]:
    return _decide(approval_id, False, request, admin)
