"""Building audit actors and request facts from HTTP requests."""

from __future__ import annotations

from starlette.requests import Request

from ostiary.audit.events import Actor, RequestInfo
from ostiary.keys.models import KeyPrincipal

USER_AGENT_LIMIT = 512  # characters of User-Agent kept in an event
_new = object.__new__
_setattr = object.__setattr__


def request_info(request: Request) -> RequestInfo:
    """The client's address, User-Agent (the first, cut to 512 characters) and the
    request id. Read from the ASGI scope, which is what ``request.client`` and
    ``request.headers`` read: through them it cost ~21,000 instructions (an ``Address``
    built, the header name lowered and encoded per call) and every audited request asks
    once. ASGI servers send header names lower-case, and Starlette's lookup matches only
    those too (tests/web/test_audit_request_info.py compares the two)."""
    scope = request.scope
    client = scope.get("client")
    agent = None
    for name, value in scope["headers"]:
        if name == b"user-agent":
            agent = value.decode("latin-1")[:USER_AGENT_LIMIT] or None
            break
    state = scope.get("state")
    # RequestInfo's own ``__init__`` without the call to it (type call, Python frame:
    # ~570 instructions a request; docs/performance.md, audit11): the same one step,
    # a new ``__dict__`` of the fields (tests/web/test_audit_request_info.py checks it
    # equals the constructed one and holds exactly the fields).
    info = _new(RequestInfo)
    _setattr(
        info,
        "__dict__",
        {
            "source_ip": client[0] if client is not None else None,
            "user_agent": agent,
            "request_id": state.get("request_id") if state else None,
        },
    )
    return info


# The actor of each (key id, secret version) seen, shared by its requests: an ``Actor``
# is frozen and its fields come from the pair only, and building one cost ~7,900
# instructions against ~1,000 for the lookup, in every SCIM, SSF and key request
# (docs/performance.md, session 10). Bounded: emptied when it reaches ACTORS_KEPT.
ACTORS_KEPT = 4096
_ACTORS: dict[tuple[str, int], Actor] = {}


def key_actor(principal: KeyPrincipal) -> Actor:
    pair = (principal.key_id, principal.version)
    actor = _ACTORS.get(pair)
    if actor is None:
        if len(_ACTORS) >= ACTORS_KEPT:
            _ACTORS.clear()
        actor = Actor(kind="key", id=pair[0], auth="bearer_key", key_version=pair[1])
        _ACTORS[pair] = actor
    return actor
