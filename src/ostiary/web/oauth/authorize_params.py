"""The optional OIDC Core 3.1.2.1 request parameters the authorization endpoint honours
beyond the code flow itself: ``id_token_hint``, ``acr_values``, ``ui_locales`` and
``claims_locales``.

- ``id_token_hint``: an ID token we issued to this client (signature checked against our
  published keys; expired is fine, as the spec expects). If it names someone other than
  the signed-in user, ``prompt=none`` is ``login_required`` and otherwise the user signs
  in again.
- ``acr_values``: voluntary (OIDC Core 5.5.1.1), so an unmet value only fails
  ``prompt=none`` (``login_required``); otherwise the ID token's ``acr`` says what the
  sign-in achieved.
- ``ui_locales``/``claims_locales``: accepted; pages and claims exist in ``en`` only,
  which discovery says.
- ``claims`` (OIDC Core 5.5): individual claims for the ID token or UserInfo, kept with
  the code and refresh token. Only claims of scopes the client is registered for are
  released (the consent page speaks of scopes, so nothing beyond them is released).
"""

from __future__ import annotations

from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jws import extract_compact
from sqlalchemy import Connection

from ostiary.core import jose
from ostiary.directory.models import User
from ostiary.oidc import acr
from ostiary.oidc import claims as oidc_claims
from ostiary.oidc.clients import Client
from ostiary.oidc.errors import OAuthError
from ostiary.oidc.id_token import ID_ALGS
from ostiary.store.repositories.groups import GroupRepository
from ostiary.store.repositories.sessions import Session
from ostiary.web.oauth.state import OAuthState

LOCALES_SUPPORTED = ("en",)
MAX_HINT = 8192


class Redirectable(OAuthError):
    """An error to send back to the (verified) redirect URI."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


def hint_subject(state: OAuthState, client: Client, params: dict[str, str]) -> str | None:
    """The ``sub`` of a valid ``id_token_hint``, None without one; a bad hint is
    ``invalid_request``."""
    hint = params.get("id_token_hint")
    if not hint:
        return None
    try:
        if len(hint) > MAX_HINT:
            raise ValueError("too long")
        kid = extract_compact(hint.encode("ascii")).protected.get("kid")
        key = state.keyring.verifier(kid) if isinstance(kid, str) else None
        if key is None:
            raise ValueError("unknown key")
        claims: dict[str, Any] = dict(jwt.decode(hint, key, registry=jose.registry(ID_ALGS)).claims)
    except (JoseError, ValueError, UnicodeError):
        raise Redirectable("invalid_request", "id_token_hint is not our ID token") from None
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    sub = claims.get("sub")
    if claims.get("iss") != state.issuer or client.id not in audiences or not isinstance(sub, str):
        raise Redirectable("invalid_request", "id_token_hint was not issued to this client")
    return sub


def other_user(session: Session | None, hinted: str | None) -> bool:
    return session is not None and hinted is not None and session.user_id != hinted


def check_acr(session: Session, params: dict[str, str], prompts: set[str]) -> None:
    """With ``prompt=none`` an acr the session cannot meet is ``login_required``."""
    if "none" in prompts and acr.chosen(session.amr, params.get("acr_values")) is None:
        raise Redirectable("login_required", "the requested acr_values need a new sign-in")


# The scope whose claims an individual claim belongs to (OIDC Core 5.4).
_SCOPE_OF = {
    **dict.fromkeys(("email", "email_verified"), "email"),
    **dict.fromkeys(("phone_number", "phone_number_verified"), "phone"),
    "address": "address",
    "groups": "groups",
}


def claims_request(client: Client, params: dict[str, str]) -> dict[str, list[str]] | None:
    raw = params.get("claims")
    try:
        if raw is not None and len(raw) > MAX_HINT:
            raise ValueError("too long")
        parsed = oidc_claims.parse_request(raw)
    except (ValueError, RecursionError):
        raise Redirectable("invalid_request", "claims is not a valid claims request") from None
    if parsed is None:
        return None
    allowed = set(client.scopes)
    kept = {
        where: [n for n in names if _SCOPE_OF.get(n, "profile") in allowed]
        for where, names in parsed.items()
    }
    return {where: names for where, names in kept.items() if names} or None


def id_token_claims(
    conn: Connection, user: User, requested: dict[str, list[str]] | None
) -> dict[str, Any]:
    """The individual claims asked for in the ID token (OIDC Core 5.5)."""
    names = (requested or {}).get("id_token") or []
    if not names:
        return {}
    groups = [g for _, g in GroupRepository(conn).groups_of(user.id)] if "groups" in names else []
    return oidc_claims.requested(user, names, groups)
