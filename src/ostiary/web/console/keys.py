"""Provisioning keys: list, create (the secret shown once), rotate, disable, enable and
revoke (issue 9 points 2 and 3).

Only roles with key permissions reach these routes, and only after a sign-in with a
second factor. A new secret is sealed into the console session and the browser is
redirected (POST, redirect, GET): the key's page takes the secret out of the session as
it shows it, so a reload, or the back button, finds it gone.
"""

from __future__ import annotations

from datetime import timedelta

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ostiary.core.errors import NotFound
from ostiary.keys import admin_tokens as at
from ostiary.keys.errors import PolicyViolation
from ostiary.keys.models import KeyStatus
from ostiary.keys.scopes import ALL_SCOPES, check_grantable, validate_scopes
from ostiary.store.repositories.console_sessions import ConsoleSessionRepository
from ostiary.web.audit import request_info
from ostiary.web.console.guard import Admin, Rule, get, not_found, post, render, see_other
from ostiary.web.context import AppContext
from ostiary.web.keys import wiring
from ostiary.web.keys.service import key_summary

READ = Rule(at.KEYS_READ, otp=True)
WRITE = Rule(at.KEYS_WRITE, otp=True)
REVOKE = Rule(at.KEYS_REVOKE, otp=True, fresh=True)
LIFETIMES = {"30": 30, "90": 90, "365": 365}  # days offered; the policy maximum still applies
OVERLAPS = {"0": 0, "1": 1, "24": 24, "168": 168}  # hours the previous secret keeps working


def _flash_context(admin: Admin) -> str:
    return "console-flash:" + admin.session.id_hash.hex()


def _keep_secret(ctx: AppContext, admin: Admin, key_id: str, token: str) -> None:
    sealed = ctx.vault.seal(orjson.dumps({"key_id": key_id, "token": token}), _flash_context(admin))
    with ctx.db.begin() as conn:
        ConsoleSessionRepository(conn).put_flash(admin.session.id_hash, sealed)


def _take_secret(ctx: AppContext, admin: Admin, key_id: str) -> str | None:
    with ctx.db.begin() as conn:
        sealed = ConsoleSessionRepository(conn).take_flash(admin.session.id_hash)
    if sealed is None:
        return None
    doc = orjson.loads(ctx.vault.open(sealed, _flash_context(admin)))
    return str(doc["token"]) if doc.get("key_id") == key_id else None


def _list_page(
    request: Request, admin: Admin, error: str | None = None, status: int = 200
) -> Response:
    ctx: AppContext = request.app.state.ctx
    keys = [key_summary(r) for r in wiring.service(ctx).all_keys()]
    return render(
        request,
        admin,
        "keys.html",
        status,
        keys=list(reversed(keys)),
        scopes=sorted(ALL_SCOPES),
        lifetimes=LIFETIMES,
        max_days=ctx.settings.key_max_lifetime_days,
        error=error,
    )


def list_keys(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    return _list_page(request, admin)


def create_key(request: Request, admin: Admin, form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    days = LIFETIMES.get(form.get("expires_in", ""))
    try:
        requested = validate_scopes(form.get("scopes", "").split())
        check_grantable(requested, admin.roles.key_scopes)
        new = wiring.service(ctx).create(
            admin.actor,
            name=form.get("name", "").strip(),
            scopes=sorted(requested),
            lifetime=timedelta(days=days) if days else None,
            description=form.get("description", "")[:2000],
            held_scopes=admin.roles.key_scopes,
            request=request_info(request),
        )
    except PolicyViolation as exc:
        return _list_page(request, admin, str(exc), 400)
    _keep_secret(ctx, admin, new.record.id, new.token)
    return see_other(f"/console/keys/{new.record.id}")


def show_key(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    key_id = request.path_params["key_id"]
    try:
        record = wiring.service(ctx).get(key_id)
    except NotFound:
        return not_found(request, admin, "provisioning key")
    secret = _take_secret(ctx, admin, key_id)
    return render(
        request, admin, "key.html", key=key_summary(record), secret=secret, overlaps=OVERLAPS
    )


def rotate_key(request: Request, admin: Admin, form: dict[str, str]) -> Response:
    ctx: AppContext = request.app.state.ctx
    key_id = request.path_params["key_id"]
    svc = wiring.service(ctx)
    hours = OVERLAPS.get(form.get("overlap", "24"), 24)
    try:
        check_grantable(svc.get(key_id).scopes, admin.roles.key_scopes)
        overlap = timedelta(hours=hours)
        rot, _record = svc.rotate(admin.actor, key_id, overlap, request_info(request))
    except NotFound:
        return not_found(request, admin, "provisioning key")
    except PolicyViolation as exc:
        return render(request, admin, "forbidden.html", 400, reason=str(exc))
    _keep_secret(ctx, admin, key_id, rot.token)
    return see_other(f"/console/keys/{key_id}")


def _status(request: Request, admin: Admin, status: KeyStatus) -> Response:
    ctx: AppContext = request.app.state.ctx
    key_id = request.path_params["key_id"]
    try:
        wiring.service(ctx).set_status(admin.actor, key_id, status, request=request_info(request))
    except NotFound:
        return not_found(request, admin, "provisioning key")
    except PolicyViolation as exc:
        return render(request, admin, "forbidden.html", 409, reason=str(exc))
    return see_other(f"/console/keys/{key_id}")


def disable_key(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    return _status(request, admin, KeyStatus.DISABLED)


def enable_key(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    return _status(request, admin, KeyStatus.ACTIVE)


def revoke_key(request: Request, admin: Admin, _form: dict[str, str]) -> Response:
    return _status(request, admin, KeyStatus.REVOKED)


routes = [
    get("/console/keys", list_keys, READ),
    post("/console/keys", create_key, WRITE),
    get("/console/keys/{key_id}", show_key, READ),
    post("/console/keys/{key_id}/rotate", rotate_key, WRITE),
    post("/console/keys/{key_id}/disable", disable_key, WRITE),
    post("/console/keys/{key_id}/enable", enable_key, WRITE),
    post("/console/keys/{key_id}/revoke", revoke_key, REVOKE),
]
