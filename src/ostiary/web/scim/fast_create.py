"""``POST /scim/v2/Users`` without the router: the create provisioning clients send most.

Placed beside :mod:`ostiary.web.scim.fast_lookup`, inside
:class:`~ostiary.web.middleware.RequestContextMiddleware` (the request id, metrics under
the route template and the access line are unchanged) and inside Starlette's
``ServerErrorMiddleware`` (an unexpected error is still the SCIM 500 of ``web.errors``).
It calls the very endpoint the route table holds (``resources.USERS["create"]``), so
authentication, rate limits, attribute restrictions, validation, group commit and every
error are that endpoint's; what it skips is Starlette's exception middleware, the walk
over the route table and the route's request wrapper. Anything else passes through.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from ostiary.web.scim.resources import USERS

PATH = "/scim/v2/Users"


class ScimCreateFastPath:
    def __init__(self, app: Any, routes: list[Any]) -> None:
        self.app = app
        self.endpoint = USERS["create"]
        # The route the router would have matched: the metrics label its template.
        self.route = next(
            r
            for r in routes
            if isinstance(r, Route) and r.path == PATH and "POST" in (r.methods or ())
        )
        assert self.route.endpoint is self.endpoint, "the route table's create moved"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        scope["endpoint"] = self.endpoint
        scope["path_params"] = {}
        response = await self.endpoint(Request(scope, receive))
        await response(scope, receive, send)
