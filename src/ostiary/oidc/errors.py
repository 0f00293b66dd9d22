"""OAuth 2.0 / OpenID Connect errors. The web layer renders them as
``{"error", "error_description"}`` (RFC 6749 section 5.2) with the status and headers
carried here (``WWW-Authenticate`` where RFC 6749, 6750 and 9449 ask for it)."""

from __future__ import annotations

from ostiary.core.errors import OstiaryError


class OAuthError(OstiaryError):
    error = "invalid_request"
    status = 400

    def __init__(self, description: str = "", headers: dict[str, str] | None = None) -> None:
        super().__init__(description or self.error)
        self.description = description
        self.headers: dict[str, str] = dict(headers or {})


class InvalidRequest(OAuthError):
    error = "invalid_request"


class InvalidClient(OAuthError):
    """RFC 6749 section 5.2: 401 with a challenge when the client used the header."""

    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidDpopProof(OAuthError):
    """RFC 9449 section 5 (token endpoint) and 7.1 (resource server)."""

    error = "invalid_dpop_proof"


class UseDpopNonce(OAuthError):
    """RFC 9449 section 8: the client must retry with the nonce in ``DPoP-Nonce``."""

    error = "use_dpop_nonce"


class InvalidToken(OAuthError):
    """RFC 6750 section 3.1."""

    error = "invalid_token"
    status = 401


class TemporarilyUnavailable(OAuthError):
    error = "temporarily_unavailable"
    status = 503


class InvalidRedirectUri(OAuthError):
    """RFC 7591 section 3.2.2."""

    error = "invalid_redirect_uri"


class InvalidClientMetadata(OAuthError):
    """RFC 7591 section 3.2.2."""

    error = "invalid_client_metadata"


class SigningKeyError(OstiaryError):
    """A signing-key operation broke a rotation rule."""


class SlowDown(OAuthError):
    """429 (RFC 6585 section 4) from the token endpoint's rate limits; ``slow_down`` is the
    registered OAuth error for "too fast" (RFC 8628 section 3.5)."""

    error = "slow_down"
    status = 429
