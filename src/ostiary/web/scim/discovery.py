"""/ServiceProviderConfig, /ResourceTypes and /Schemas (RFC 7644 section 4).

These answer without authentication: section 4 describes them as the way a client learns
how to talk to the server before it provisions anything, and they reveal no directory
data (only the schemas and limits, which docs/scim.md publishes anyway). Documents are
built once per configuration and served as bytes.
"""

from __future__ import annotations

from functools import lru_cache

import orjson
from starlette.requests import Request
from starlette.responses import Response

from ostiary.core.settings import Settings
from ostiary.scim import discovery, errors
from ostiary.scim.schemas import CONTENT_TYPE
from ostiary.web.context import AppContext
from ostiary.web.scim.call import registry_for
from ostiary.web.scim.endpoint import MAX_BODY, scim_endpoint


class _Docs:
    def __init__(self, key: tuple[str, str | None, int, int, int]) -> None:
        base_url, extensions, max_results, bulk_ops, bulk_bytes = key
        registry = registry_for(extensions)
        self.spc = orjson.dumps(
            discovery.service_provider_config(
                base_url,
                max_results=max_results,
                bulk_max_operations=bulk_ops,
                # Truthful: no body above the endpoint's own cap is ever read.
                bulk_max_payload=min(bulk_bytes, MAX_BODY),
            )
        )
        types = discovery.resource_types(registry, base_url)
        schemas = discovery.schema_documents(registry, base_url)
        self.types = {k.lower(): orjson.dumps(v) for k, v in types.items()}
        self.types_list = orjson.dumps(discovery.list_response(list(types.values())))
        self.schemas = {k.lower(): orjson.dumps(v) for k, v in schemas.items()}
        self.schemas_list = orjson.dumps(discovery.list_response(list(schemas.values())))


@lru_cache(maxsize=4)
def _docs_for(key: tuple[str, str | None, int, int, int]) -> _Docs:
    return _Docs(key)


def _docs(settings: Settings, base_url: str) -> _Docs:
    # Keyed on the values the documents depend on (Settings itself is not hashable).
    return _docs_for((base_url, settings.scim_extensions, settings.scim_max_results,
                      settings.scim_bulk_max_operations, settings.scim_bulk_max_payload_bytes))


def _get(request: Request) -> _Docs:
    if request.method != "GET":
        raise errors.ScimError(f"{request.method} is not allowed here", status=405)
    if "filter" in request.query_params:
        # Section 4: filtering the discovery endpoints is not supported -> 403.
        raise errors.Forbidden("filtering is not supported on discovery endpoints")
    ctx: AppContext = request.app.state.ctx
    return _docs(ctx.settings, ctx.scim_base)


def _bytes(body: bytes) -> Response:
    return Response(body, media_type=CONTENT_TYPE)


def _one(table: dict[str, bytes], key: str, what: str) -> Response:
    body = table.get(key.lower())
    if body is None:
        raise errors.NotFound(f"no {what} {key}")
    return _bytes(body)


@scim_endpoint
def service_provider_config(request: Request, raw: bytes) -> Response:
    return _bytes(_get(request).spc)


@scim_endpoint
def resource_types(request: Request, raw: bytes) -> Response:
    return _bytes(_get(request).types_list)


@scim_endpoint
def resource_type(request: Request, raw: bytes) -> Response:
    return _one(_get(request).types, request.path_params["id"], "ResourceType")


@scim_endpoint
def schemas(request: Request, raw: bytes) -> Response:
    return _bytes(_get(request).schemas_list)


@scim_endpoint
def schema(request: Request, raw: bytes) -> Response:
    return _one(_get(request).schemas, request.path_params["id"], "Schema")
