"""A JWS registry whose ``EdDSA`` raises no deprecation warning.

RFC 9864 deprecates the polymorphic ``EdDSA`` name in favour of ``Ed25519``, and joserfc
warns on every use. OpenID Connect relying parties (and issue 6) still name ``EdDSA``,
and our keys are only ever Ed25519, the case that stays unambiguous, so the warning
says nothing here; with warnings as errors it would fail every EdDSA signature.
"""

from __future__ import annotations

from collections.abc import Iterable

from joserfc.jwa import EdDSAAlgorithm
from joserfc.jws import JWSRegistry


class _EdDSA(EdDSAAlgorithm):
    security_warning = ""  # falsy: joserfc warns only when it is set


class _Registry(JWSRegistry):
    algorithms = {**JWSRegistry.algorithms, "EdDSA": _EdDSA()}


def registry(algorithms: Iterable[str], max_header_length: int | None = None) -> JWSRegistry:
    """A registry allowing exactly ``algorithms``; ``max_header_length`` raises joserfc's
    512-byte cap on the encoded protected header where a header carries a whole key."""
    out = _Registry(algorithms=list(algorithms))
    if max_header_length is not None:
        out.max_header_length = max_header_length
    return out
