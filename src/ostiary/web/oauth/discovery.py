"""Discovery (OpenID Connect Discovery 1.0 section 3, RFC 8414) and the JWKS.

The metadata lists only what is implemented; each endpoint module adds its own entries
when it exists, so the document never promises a feature the server lacks.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ostiary.keys.scopes import ALL_SCOPES
from ostiary.oidc.dpop import DPOP_ALGS
from ostiary.web.oauth.responses import json_response
from ostiary.web.oauth.state import OAuthState


def metadata(issuer: str, *, registration: bool = False) -> dict[str, Any]:
    doc = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/jwks",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "grant_types_supported": ["client_credentials"],
        # No authorization endpoint yet, hence no response types (RFC 8414 section 2).
        "response_types_supported": [],
        "token_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["ES256", "RS256", "PS256", "EdDSA"],
        "revocation_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "introspection_endpoint_auth_methods_supported": [
            "client_secret_basic",
            "client_secret_post",
            "private_key_jwt",
        ],
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": sorted(ALL_SCOPES),
    }
    if registration:
        doc["registration_endpoint"] = f"{issuer}/register"
    return doc


def _state(request: Request) -> OAuthState:
    state: OAuthState = request.app.state.oauth
    return state


async def openid_configuration(request: Request) -> Response:
    return _document(request)


def _document(request: Request) -> Response:
    state = _state(request)
    doc = metadata(state.issuer, registration=state.settings.dynamic_registration)
    return json_response(doc, headers={"Cache-Control": "public, max-age=3600"})


async def authorization_server(request: Request) -> Response:
    return _document(request)


def jwks(request: Request) -> Response:
    # Sync (thread pool): the first call or a refresh may read the database.
    state = _state(request)
    max_age = state.settings.jwks_max_age_seconds
    return Response(
        state.keyring.jwks_body(),
        headers={"Cache-Control": f"public, max-age={max_age}"},
        media_type="application/jwk-set+json",
    )


routes = [
    Route("/.well-known/openid-configuration", openid_configuration, methods=["GET"]),
    Route("/.well-known/oauth-authorization-server", authorization_server, methods=["GET"]),
    Route("/jwks", jwks, methods=["GET"]),
]
