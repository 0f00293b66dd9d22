"""Authentication context classes (OIDC Core section 2, ``acr``) derived from ``amr``.

A session records how its user proved who they are (``amr``, RFC 8176 values); the class
is a function of that, so it cannot disagree with it: ``otp`` on top of ``pwd`` is
multi-factor. Relying parties ask for a class with ``acr_values``; the admin console asks
:func:`is_mfa` before key-touching roles.
"""

from __future__ import annotations

from collections.abc import Iterable

ACR_PWD = "urn:ostiary:acr:pwd"
ACR_MFA = "urn:ostiary:acr:mfa"
SUPPORTED = (ACR_PWD, ACR_MFA)


def is_mfa(amr: Iterable[str]) -> bool:
    """True when the sign-in used a password and a one-time password (RFC 8176 ``otp``)."""
    methods = set(amr)
    return {"pwd", "otp"} <= methods


def acr_for(amr: Iterable[str]) -> str:
    return ACR_MFA if is_mfa(amr) else ACR_PWD
