"""Response helpers: SCIM JSON straight to bytes with orjson, no model round-trip."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response

from ostiary.scim.errors import ScimError
from ostiary.scim.schemas import CONTENT_TYPE


def scim_json(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(doc), status_code=status, headers=headers, media_type=CONTENT_TYPE)


def scim_error(exc: ScimError, headers: dict[str, str] | None = None) -> Response:
    return scim_json(exc.body(), exc.status, headers)
