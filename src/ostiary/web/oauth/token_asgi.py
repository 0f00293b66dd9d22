"""``POST /token`` for ``client_credentials`` as a pure ASGI handler.

Issuing a token is a few hundred microseconds of work (HMAC or two ES256 verifications,
one ES256 signature, one batched audit insert); through Starlette the request also paid
for the exception middleware, matching ~20 routes, the ``request_response`` wrapper and
``Request``/``Response`` objects. This handler sits just inside
``RequestContextMiddleware`` (so the request id, the access log line and the metrics are
exactly as for every other request) and serves ``client_credentials`` itself: it reads
the headers it needs from the scope once, parses the form, and sends the JSON with the
same headers and error bodies as ``token.token``, which does all the checking (shared
code: ``token.issue``). Every other request, and every other grant at ``/token`` (the
user grants, an unknown or missing ``grant_type``), goes on to the Starlette app with the
body replayed, so their behaviour is unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.routing import Route

from ostiary.audit.events import RequestInfo
from ostiary.oidc.errors import InvalidRequest, OAuthError
from ostiary.web.oauth import client_auth
from ostiary.web.oauth.responses import NO_STORE, oauth_error
from ostiary.web.oauth.token import FORM, MAX_BODY, TokenCall, issue, parse_form, refused

Scope = dict[str, Any]
_OK_HEADERS = [
    (b"content-type", b"application/json"),
    *((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in NO_STORE.items()),
]


class _Headers:
    """The request headers the token endpoint reads, in one pass over the scope (the
    first of a repeated header, as Starlette's ``Headers.get``; every ``DPoP`` value)."""

    __slots__ = ("authorization", "content_type", "dpop", "user_agent")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        self.content_type = self.authorization = self.user_agent = None
        self.dpop: list[str] = []
        for key, value in raw:
            if key == b"content-type" and self.content_type is None:
                self.content_type = value.decode("latin-1")
            elif key == b"authorization" and self.authorization is None:
                self.authorization = value.decode("latin-1")
            elif key == b"dpop":
                self.dpop.append(value.decode("latin-1"))
            elif key == b"user-agent" and self.user_agent is None:
                self.user_agent = value.decode("latin-1")


class TokenEndpoint:
    """Pure ASGI middleware: ``POST /token`` with ``client_credentials`` here, the rest on."""

    def __init__(self, app: Any, route: Route) -> None:
        self.app = app
        self.route = route  # the template RequestContextMiddleware labels metrics with

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or _path(scope) != "/token":
            await self.app(scope, receive, send)
            return
        headers = _Headers(scope["headers"])
        form: dict[str, str] = {}
        try:
            ctype = (headers.content_type or "").split(";")[0].strip().lower()
            if ctype != FORM:
                raise InvalidRequest(f"the body must be {FORM}")
            raw = await _body(receive)
            form = parse_form(raw)
            if form.get("grant_type") != "client_credentials":
                await self.app(scope, _replay(raw, receive), send)  # token.token decides
                return
            scope["route"] = self.route
            body = await issue(_call(scope, headers), form)
        except client_auth.ClientAuthFailed as exc:
            scope["route"] = self.route
            await (await refused(_call(scope, headers), exc, form))(scope, receive, send)
            return
        except OAuthError as exc:
            scope["route"] = self.route
            await oauth_error(exc)(scope, receive, send)
            return
        payload = orjson.dumps(body)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [*_OK_HEADERS, (b"content-length", str(len(payload)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": payload})


def _path(scope: Scope) -> str:
    # As Starlette routes: the path below the mount point the server reports.
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _call(scope: Scope, headers: _Headers) -> TokenCall:
    client = scope.get("client")
    info = RequestInfo(
        source_ip=client[0] if client else None,
        user_agent=(headers.user_agent or "")[:512] or None,
        request_id=scope.get("state", {}).get("request_id"),
    )
    return TokenCall(scope["app"].state.oauth, headers.authorization, headers.dpop, info)


async def _body(receive: Any) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break  # the client went away: what arrived is all there is
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise InvalidRequest("the body is too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(raw: bytes, receive: Any) -> Any:
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        later: dict[str, Any] = await receive()  # a disconnect comes from the server
        return later

    return replay
