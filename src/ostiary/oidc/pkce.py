"""PKCE (RFC 7636) with S256 only: ``plain`` gives no protection against a stolen code."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

from ostiary.oidc.errors import InvalidGrant, InvalidRequest

# RFC 7636 section 4.1 (verifier) and 4.2 (challenge = BASE64URL(SHA256(verifier))).
_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")
_CHALLENGE = re.compile(r"^[A-Za-z0-9\-_]{43}$")


def check_challenge(challenge: str | None, method: str | None, *, required: bool) -> str | None:
    """The challenge to store, or None; raises ``InvalidRequest`` (RFC 7636 section 4.4.1)."""
    if not challenge:
        if method:
            raise InvalidRequest("code_challenge_method without code_challenge")
        if required:
            raise InvalidRequest("this client must use PKCE (code_challenge, S256)")
        return None
    if (method or "plain") != "S256":
        raise InvalidRequest("code_challenge_method must be S256")
    if not _CHALLENGE.match(challenge):
        raise InvalidRequest("code_challenge is not a base64url SHA-256 value")
    return challenge


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def check_verifier(challenge: str | None, verifier: str | None) -> None:
    """RFC 7636 section 4.6: the verifier must hash to the stored challenge."""
    if challenge is None:
        if verifier is not None:
            raise InvalidGrant("code_verifier sent but the request had no code_challenge")
        return
    if verifier is None or not _VERIFIER.match(verifier):
        raise InvalidGrant("code_verifier is missing or malformed")
    if not hmac.compare_digest(s256(verifier).encode(), challenge.encode()):
        raise InvalidGrant("code_verifier does not match the code_challenge")
