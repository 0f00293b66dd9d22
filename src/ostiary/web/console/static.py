"""The console's stylesheet and script, served by Ostiary itself (no CDN, no inline code:
the CSP allows scripts and styles from 'self' only)."""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

TYPES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}
_FILES = {
    name: (resources.files("ostiary.web") / "static" / "console" / name).read_bytes()
    for name in TYPES
}


async def asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in _FILES:
        return PlainTextResponse("not found", 404)
    headers = {"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"}
    return Response(_FILES[name], 200, media_type=TYPES[name], headers=headers)


routes = [Route("/console/static/{name}", asset, methods=["GET"])]
