"""The SCIM API as an OAuth resource server: RFC 9068 access tokens from our token
endpoint, Bearer or DPoP-bound (RFC 9449 section 7).

``verify_access_token`` returns the same :class:`KeyPrincipal` a bearer provisioning key
yields, so SCIM scope checks and auditing are unchanged. The key behind the token is
looked up on every call: disabling or revoking the key ends its tokens at once.
"""

from __future__ import annotations

from starlette.requests import Request

from ostiary.core.clock import as_utc
from ostiary.keys.models import KeyPrincipal, KeyStatus
from ostiary.oidc import tokens
from ostiary.oidc.dpop import DPOP_ALGS, verify_proof
from ostiary.oidc.errors import (
    InvalidDpopProof,
    InvalidToken,
    OAuthError,
    TemporarilyUnavailable,
    UseDpopNonce,
)
from ostiary.scim.errors import ScimError, Unauthorized
from ostiary.web.oauth import revocation
from ostiary.web.oauth.state import OAuthState

ALGS = " ".join(DPOP_ALGS)


class TokenRefused(Unauthorized):
    """A SCIM 401 whose challenge names the OAuth error (RFC 6750 3.1, RFC 9449 7.1)."""

    def __init__(self, exc: OAuthError, scheme: str) -> None:
        super().__init__(exc.description or exc.error)
        desc = (exc.description or exc.error).replace('"', "'")
        if scheme == "dpop" or isinstance(exc, InvalidDpopProof | UseDpopNonce):
            challenge = f'DPoP error="{exc.error}", error_description="{desc}", algs="{ALGS}"'
        else:
            challenge = (
                f'Bearer realm="ostiary-scim", error="{exc.error}", error_description="{desc}"'
            )
            challenge += f', DPoP algs="{ALGS}"'
        self.headers = {"WWW-Authenticate": challenge, **exc.headers}


def is_oauth_token(header: str | None) -> bool:
    """True when the SCIM Authorization header carries one of our JWTs, not a raw key."""
    if not header:
        return False
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "dpop":
        return True
    return scheme.lower() == "bearer" and tokens.looks_like_jwt(token.strip())


def verify_access_token(request: Request) -> KeyPrincipal:
    state: OAuthState = request.app.state.oauth
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    scheme = scheme.lower()
    try:
        return _verify(state, request, scheme, token.strip())
    except TemporarilyUnavailable as exc:
        raise ScimError(exc.description, status=503) from None
    except OAuthError as exc:
        raise TokenRefused(exc, scheme) from None


def _verify(state: OAuthState, request: Request, scheme: str, token: str) -> KeyPrincipal:
    now = state.now()
    claims = tokens.verify(
        token,
        key_for=state.keyring.verifier,
        issuer=state.issuer,
        audience=state.scim_audience,
        now=now,
    )
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, dict) else None
    if scheme == "dpop":
        if jkt is None:
            raise InvalidToken("the access token is not DPoP-bound")
        proof = verify_proof(
            request.headers.getlist("dpop"),
            method=request.method,
            url=state.issuer + request.url.path,
            now=now,
            max_age=state.settings.dpop_max_age_seconds,
            replay=state.replay,
            nonces=state.nonces if state.settings.dpop_nonce_required else None,
            access_token=token,
        )
        if proof.jkt != jkt:
            raise InvalidDpopProof("the proof key does not match the token's cnf.jkt")
    elif jkt is not None:
        # RFC 9449 section 7.2: a bound token presented as a bearer token is refused.
        raise InvalidToken("a DPoP-bound access token requires the DPoP scheme and a proof")
    return _principal(state, claims, now)


def _principal(state: OAuthState, claims: dict[str, object], now: int) -> KeyPrincipal:
    if revocation.is_revoked(state, claims.get("jti")):
        raise InvalidToken("the access token was revoked")
    key_id = claims.get("client_id")
    record = state.key_reader.get_for_auth(key_id) if isinstance(key_id, str) else None
    if record is None or record.status is not KeyStatus.ACTIVE:
        raise InvalidToken("the provisioning key behind this token is no longer active")
    if as_utc(record.expires_at).timestamp() <= now:
        raise InvalidToken("the provisioning key behind this token has expired")
    scope = claims.get("scope")
    granted = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    version = claims.get("ost_kv")
    return KeyPrincipal(
        key_id=record.id,
        version=version if isinstance(version, int) else record.current_version,
        name=record.name,
        # A key's scopes may have shrunk since the token was issued.
        scopes=granted & record.scopes,
        # The key's source and attribute restrictions bind its tokens too. require_dpop
        # is not carried: it concerns presenting the key itself, which /token enforces.
        allowed_cidrs=record.binding.allowed_cidrs,
        attributes=record.binding.attributes,
    )


def verify_user_token(request: Request) -> tuple[str, frozenset[str]]:
    """``(user id, scopes)`` behind a relying party's access token from the code flow
    (RFC 9068, audience UserInfo), for SCIM ``/Me`` (RFC 7644 section 3.11). Refused with
    a SCIM 401 and a Bearer challenge: anything else, expired, or on the revocation set."""
    state: OAuthState = request.app.state.oauth
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not tokens.looks_like_jwt(token.strip()):
            raise InvalidToken("/Me needs a user's OpenID Connect access token (Bearer)")
        claims = tokens.verify(
            token.strip(),
            key_for=state.keyring.verifier,
            issuer=state.issuer,
            audience=f"{state.issuer}/userinfo",
            now=state.now(),
        )
        granted = frozenset(str(claims.get("scope", "")).split())
        if "openid" not in granted or not isinstance(claims.get("sub"), str):
            raise InvalidToken("the token was not issued for OpenID Connect")
        if state.revocations.is_revoked(claims.get("jti")):
            raise InvalidToken("the access token was revoked")
    except TemporarilyUnavailable as exc:
        raise ScimError(exc.description, status=503) from None
    except OAuthError as exc:
        raise TokenRefused(exc, "bearer") from None
    return str(claims["sub"]), granted


def user_inactive() -> TokenRefused:
    return TokenRefused(InvalidToken("the user is no longer active"), "bearer")
