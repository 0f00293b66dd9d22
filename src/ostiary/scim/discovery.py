"""Discovery documents (RFC 7644 section 4, RFC 7643 sections 5-7): what the server really does.

Every capability advertised here is implemented and tested; the limits come from settings.
"""

from __future__ import annotations

from typing import Any

from ostiary.scim import schemas
from ostiary.scim.registry import Registry

DOCS = "https://github.com/ostiary/ostiary/blob/main/docs/scim.md"


def service_provider_config(
    base_url: str, *, max_results: int, bulk_max_operations: int, bulk_max_payload: int
) -> dict[str, Any]:
    return {
        "schemas": [schemas.SERVICE_PROVIDER_CONFIG],
        "documentationUri": DOCS,
        "patch": {"supported": True},
        "bulk": {
            "supported": True,
            "maxOperations": bulk_max_operations,
            "maxPayloadSize": bulk_max_payload,
        },
        "filter": {"supported": True, "maxResults": max_results},
        "changePassword": {"supported": True},
        "sort": {"supported": True},
        "etag": {"supported": True},
        "authenticationSchemes": [
            {
                "type": "oauthbearertoken",
                "name": "Provisioning key",
                "description": "A provisioning key (ost_pk_...) as an RFC 6750 bearer token",
                "specUri": "https://www.rfc-editor.org/rfc/rfc6750",
                "documentationUri": DOCS,
                "primary": True,
            },
            {
                "type": "oauthbearertoken",
                "name": "OpenID Connect access token",
                "description": "A user's access token from the authorization code flow "
                "(RFC 9068), accepted at /Me only (RFC 7644 section 3.11); read-only",
                "specUri": "https://www.rfc-editor.org/rfc/rfc9068",
                "documentationUri": DOCS,
            },
        ],
        "meta": {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        },
    }


def list_response(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schemas": [schemas.LIST_RESPONSE],
        "totalResults": len(resources),
        "startIndex": 1,
        "itemsPerPage": len(resources),
        "Resources": resources,
    }


def resource_types(registry: Registry, base_url: str) -> dict[str, dict[str, Any]]:
    return {k.name: k.document(base_url) for k in registry.kinds()}


def schema_documents(registry: Registry, base_url: str) -> dict[str, dict[str, Any]]:
    return {s.urn: s.document(base_url) for s in registry.schema_defs()}
