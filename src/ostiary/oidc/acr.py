"""Authentication context classes (OIDC Core 2 ``acr``, 3.1.2.1 ``acr_values``).

The class follows from the session's ``amr``: a password alone is ``pwd``; a password and
a one-time code (RFC 8176 ``otp``, the TOTP second page) is ``mfa``, which also satisfies
a request for ``pwd``. Being a function of ``amr``, the class cannot disagree with it.
"""

from __future__ import annotations

from collections.abc import Iterable

PWD = "urn:ostiary:acr:pwd"
MFA = "urn:ostiary:acr:mfa"
SUPPORTED = (PWD, MFA)
_SATISFIES = {PWD: {PWD}, MFA: {PWD, MFA}}


def of(amr: Iterable[str]) -> str:
    return MFA if {"otp", "mfa"} & set(amr) else PWD


def is_mfa(amr: Iterable[str]) -> bool:
    """True when the sign-in used a second factor (what key-touching admin roles need)."""
    return of(amr) == MFA


def chosen(amr: Iterable[str], requested: str | None) -> str | None:
    """The first requested class this sign-in satisfies (OIDC Core 3.1.2.1: in order of
    preference), the session's own class when none was requested, None when unmet."""
    actual = of(amr)
    if not requested or not requested.split():
        return actual
    for value in requested.split():
        if value in _SATISFIES[actual]:
            return value
    return None
