"""Building audit actors and request facts from HTTP requests."""

from __future__ import annotations

from starlette.requests import Request

from ostiary.audit.events import Actor, RequestInfo
from ostiary.keys.models import KeyPrincipal


def request_info(request: Request) -> RequestInfo:
    return RequestInfo(
        source_ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        request_id=request.scope.get("state", {}).get("request_id"),
    )


def key_actor(principal: KeyPrincipal) -> Actor:
    return Actor(kind="key", id=principal.key_id, auth="bearer_key", key_version=principal.version)
