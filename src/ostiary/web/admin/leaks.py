"""Leak report endpoints: GitHub secret-scanning partner alerts and key self-reports."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, HTTPException, Request
from starlette.concurrency import run_in_threadpool

from ostiary.audit.events import Actor
from ostiary.keys import format as key_format
from ostiary.keys.errors import InvalidKey
from ostiary.keys.verify import parse_bearer
from ostiary.web.audit import request_info
from ostiary.web.keys import wiring
from ostiary.web.keys.leaks import (
    BadSignature,
    github_feedback,
    parse_alerts,
    report_leak,
    verify_github_signature,
)

router = APIRouter(prefix="/api/v1/keys/leaks", tags=["leaks"])
MAX_BODY = 1024 * 1024


@router.post("/github")
async def github_alert(request: Request) -> list[dict[str, str]]:
    """GitHub secret-scanning partner alert: a signed JSON array of ``{token, type, url,
    source}``. Matching live keys are revoked; the answer labels each token."""
    ctx = request.app.state.ctx
    body = await request.body()
    if len(body) > MAX_BODY:
        raise HTTPException(413, "alert body too large")
    try:
        verify_github_signature(
            ctx.settings.github_secret_scanning_keys,
            request.headers.get("github-public-key-identifier"),
            request.headers.get("github-public-key-signature"),
            body,
        )
    except BadSignature as exc:
        raise HTTPException(401, str(exc)) from None
    try:
        alerts = parse_alerts(body)
    except (ValueError, orjson.JSONDecodeError) as exc:
        raise HTTPException(400, str(exc)) from None
    info = request_info(request)
    return await run_in_threadpool(github_feedback, wiring.service(ctx), alerts, info)


@router.post("/self-report")
def self_report(request: Request) -> dict[str, Any]:
    """Report your own key as leaked, authenticated by that key (``Authorization: Bearer
    ost_pk_...``): possession is proof enough to have it revoked at once, whatever its
    restrictions or status."""
    ctx = request.app.state.ctx
    try:
        token = parse_bearer(request.headers.get("authorization"))
    except InvalidKey:
        raise HTTPException(401, "send the leaked key as a bearer token") from None
    parsed = key_format.parse(token)
    if parsed is None:
        raise HTTPException(401, "not a provisioning key of this deployment")
    actor = Actor(kind="key", id=parsed.key_id, auth="bearer_key")
    svc = wiring.service(ctx)
    result = report_leak(svc, token, actor, source="self-report", request=request_info(request))
    if not result["known"]:
        raise HTTPException(401, "not a provisioning key of this deployment")
    return result
