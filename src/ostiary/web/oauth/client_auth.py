"""Authenticating the client at the token endpoint (RFC 6749 section 2.3).

For ``client_credentials`` the client is a provisioning key: ``client_id`` is the key id
and the client secret is the whole key (``client_secret_basic`` or ``client_secret_post``),
or the client signs a ``private_key_jwt`` assertion with a key registered on it.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote

from ostiary.core.clock import as_utc
from ostiary.keys import format as key_format
from ostiary.keys.errors import InvalidKey
from ostiary.keys.models import KeyRecord, KeyStatus
from ostiary.keys.verify import KeyVerifier
from ostiary.oidc.client_assertion import ASSERTION_TYPE, unverified_subject, verify_assertion
from ostiary.oidc.errors import InvalidClient, InvalidRequest
from ostiary.store.repositories.key_credentials import KeyCredentials
from ostiary.web.oauth.state import OAuthState

BASIC_CHALLENGE = {"WWW-Authenticate": 'Basic realm="ostiary"'}


@dataclass(frozen=True)
class AuthenticatedClient:
    record: KeyRecord
    version: int
    method: str
    credentials: KeyCredentials


class ClientAuthFailed(InvalidClient):
    """Carries what the audit log needs; the client sees only ``invalid_client``."""

    def __init__(self, client_id: str | None, method: str, reason: str, *, basic: bool = False):
        super().__init__("client authentication failed", BASIC_CHALLENGE if basic else None)
        self.client_id = client_id
        self.method = method
        self.reason = reason


def claimed_client_id(authorization: str | None, form: dict[str, str]) -> str | None:
    """Who the request says it is, before any verification (to pick the fast path)."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            return _basic(authorization[6:])[0]
        except ClientAuthFailed:
            return None
    if "client_assertion" in form:
        try:
            return unverified_subject(form["client_assertion"])
        except InvalidClient:
            return None
    return form.get("client_id")


def _basic(header: str) -> tuple[str, str]:
    try:
        raw = base64.b64decode(header.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise ClientAuthFailed(None, "client_secret_basic", "malformed", basic=True) from None
    client_id, sep, secret = raw.partition(":")
    if not sep:
        raise ClientAuthFailed(None, "client_secret_basic", "malformed", basic=True)
    # RFC 6749 section 2.3.1: both parts are form-urlencoded before base64.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def _usable(record: KeyRecord | None, now_ts: int) -> KeyRecord:
    if record is None:
        raise InvalidKey("unknown")
    if record.status is not KeyStatus.ACTIVE:
        raise InvalidKey(record.status.value)
    if as_utc(record.expires_at).timestamp() <= now_ts:
        raise InvalidKey("expired")
    return record


def presented_method(authorization: str | None, form: dict[str, str]) -> str | None:
    """The client authentication method the request uses, before any check:
    ``client_secret_basic``, ``client_secret_post`` or ``client_assertion``; None when it
    presents no credentials. More than one is refused (RFC 6749 section 2.3)."""
    methods = []
    if authorization and authorization[:6].lower() == "basic ":
        methods.append("client_secret_basic")
    if "client_secret" in form:
        methods.append("client_secret_post")
    if "client_assertion" in form or "client_assertion_type" in form:
        methods.append("client_assertion")
    if len(methods) > 1:
        raise InvalidRequest("use exactly one client authentication method")
    return methods[0] if methods else None


def basic_credentials(authorization: str | None, form: dict[str, str]) -> tuple[str, str]:
    """(client_id, secret) of a ``client_secret_basic`` request; a ``client_id`` in the
    form as well must name the same client."""
    assert authorization is not None
    client_id, secret = _basic(authorization[6:])
    if form.get("client_id", client_id) != client_id:
        raise InvalidRequest("client_id differs from the authenticated client")
    return client_id, secret


def authenticate(
    state: OAuthState, authorization: str | None, form: dict[str, str]
) -> AuthenticatedClient:
    method = presented_method(authorization, form)
    if method is None:
        raise ClientAuthFailed(form.get("client_id"), "none", "no credentials", basic=True)
    if method == "client_assertion":
        return _private_key_jwt(state, form)
    if method == "client_secret_basic":
        client_id, secret = basic_credentials(authorization, form)
        return _secret(state, client_id, secret, "client_secret_basic")
    return _secret(state, form.get("client_id", ""), form["client_secret"], "client_secret_post")


def _secret(state: OAuthState, client_id: str, secret: str, method: str) -> AuthenticatedClient:
    basic = method == "client_secret_basic"
    parsed = key_format.parse(secret)  # shape and checksum before any database read
    if parsed is None or parsed.key_id != client_id:
        raise ClientAuthFailed(client_id or None, method, "malformed", basic=basic)
    record, creds = _load(state, client_id)  # one read for the key and its OAuth settings
    verifier = KeyVerifier(_Loaded(record), state.ctx.pepper, state.ctx.clock)
    try:
        principal = verifier.verify(secret)
    except InvalidKey as exc:
        raise ClientAuthFailed(client_id, method, exc.reason, basic=basic) from None
    assert record is not None
    return AuthenticatedClient(record, principal.version, method, creds)


class _Loaded:
    """A KeyReader over the record already read, so verification costs no second read."""

    def __init__(self, record: KeyRecord | None) -> None:
        self._record = record

    def get_for_auth(self, key_id: str) -> KeyRecord | None:
        return self._record if self._record and self._record.id == key_id else None


def _load(state: OAuthState, key_id: str) -> tuple[KeyRecord | None, KeyCredentials]:
    return state.clients.get(key_id)


def _private_key_jwt(state: OAuthState, form: dict[str, str]) -> AuthenticatedClient:
    method = "private_key_jwt"
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise ClientAuthFailed(form.get("client_id"), method, "wrong client_assertion_type")
    assertion = form.get("client_assertion", "")
    client_id = unverified_subject(assertion)
    if form.get("client_id", client_id) != client_id:
        raise ClientAuthFailed(client_id, method, "client_id differs from the assertion")
    record, creds = _load(state, client_id)
    now = state.now()
    try:
        record = _usable(record, now)
    except InvalidKey as exc:
        raise ClientAuthFailed(client_id, method, exc.reason) from None
    if not creds.has_keys:
        raise ClientAuthFailed(client_id, method, "no registered keys")
    try:
        verify_assertion(
            assertion,
            client_id=client_id,
            jwks=creds.jwks,
            audiences={state.issuer, state.token_endpoint},
            now=now,
            max_lifetime=state.settings.client_assertion_max_lifetime_seconds,
            replay=state.replay,
        )
    except InvalidClient as exc:
        raise ClientAuthFailed(client_id, method, exc.description) from None
    return AuthenticatedClient(record, record.current_version, method, creds)
