"""OAuth responses: orjson bodies, ``no-store`` on anything carrying tokens."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from ostiary.oidc.errors import OAuthError

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status, headers, media_type="application/json")


def oauth_error(exc: OAuthError) -> Response:
    body: dict[str, str] = {"error": exc.error}
    if exc.description:
        body["error_description"] = exc.description
    return json_response(body, exc.status, NO_STORE | exc.headers)
