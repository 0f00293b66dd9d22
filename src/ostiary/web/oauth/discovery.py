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
from ostiary.oidc import acr
from ostiary.oidc.claims import USER_CLAIMS
from ostiary.oidc.client_assertion import ASSERTION_ALGS, SECRET_ASSERTION_ALGS
from ostiary.oidc.dpop import DPOP_ALGS
from ostiary.oidc.id_token import ID_ALGS
from ostiary.web.oauth.authorize import SUPPORTED_SCOPES
from ostiary.web.oauth.authorize_params import LOCALES_SUPPORTED
from ostiary.web.oauth.responses import json_response
from ostiary.web.oauth.state import OAuthState

# ID token and UserInfo claims (OIDC Core 2, 5.1); ``groups`` is Ostiary's own.
CLAIMS_SUPPORTED = (
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "sid",
    "amr",
    "acr",
    "azp",
    "at_hash",
    *USER_CLAIMS,
)


# Client authentication at /token, /revoke and /introspect (OIDC Core section 9): "none"
# is for public clients, which authenticate by PKCE only.
AUTH_METHODS = (
    "client_secret_basic",
    "client_secret_post",
    "client_secret_jwt",
    "private_key_jwt",
    "none",
)
AUTH_SIGNING_ALGS = (*ASSERTION_ALGS, *SECRET_ASSERTION_ALGS)


def metadata(issuer: str, *, registration: bool = False) -> dict[str, Any]:
    doc = {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/jwks",
        "token_endpoint": f"{issuer}/token",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "authorization_endpoint": f"{issuer}/authorize",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "response_types_supported": ["code"],
        # Discovery 3: request_uri_parameter_supported defaults to true, so say false.
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "prompt_values_supported": ["none", "login", "consent"],
        "authorization_response_iss_parameter_supported": True,  # RFC 9207
        "claims_supported": list(CLAIMS_SUPPORTED),
        "token_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "token_endpoint_auth_signing_alg_values_supported": list(AUTH_SIGNING_ALGS),
        "revocation_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "revocation_endpoint_auth_signing_alg_values_supported": list(AUTH_SIGNING_ALGS),
        "introspection_endpoint_auth_methods_supported": list(AUTH_METHODS),
        "introspection_endpoint_auth_signing_alg_values_supported": list(AUTH_SIGNING_ALGS),
        "dpop_signing_alg_values_supported": list(DPOP_ALGS),
        "subject_types_supported": ["public"],
        "acr_values_supported": list(acr.SUPPORTED),
        "claims_parameter_supported": True,
        "ui_locales_supported": list(LOCALES_SUPPORTED),
        "claims_locales_supported": list(LOCALES_SUPPORTED),
        "id_token_signing_alg_values_supported": list(ID_ALGS),
        "scopes_supported": sorted(ALL_SCOPES | SUPPORTED_SCOPES),
        # RP-Initiated Logout 1.0 section 2.1, Back-Channel Logout 1.0 section 2.1.
        "end_session_endpoint": f"{issuer}/end_session",
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
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
