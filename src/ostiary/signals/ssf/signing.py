"""Signing SETs. ``SetSigner`` is what the transmitter needs; ``Es256Signer`` is one
implementation over a P-256 key. The key's home (the vault today, the OIDC key set
later) is the caller's business, so the transmitter can be moved onto another key set
by handing it another signer."""

from __future__ import annotations

from typing import Any, Protocol

from joserfc import jwt
from joserfc.jwk import ECKey

TYP = "secevent+jwt"  # RFC 8417 section 2.3, required by SSF 1.0 section 4.1.1


class SetSigner(Protocol):
    def sign(self, claims: dict[str, Any]) -> str:
        """A compact JWS of ``claims`` with ``typ: secevent+jwt``."""
        ...

    def public_jwks(self) -> dict[str, Any]:
        """The JWK Set receivers verify with (served at the ``jwks_uri``)."""
        ...


def new_private_jwk() -> dict[str, Any]:
    key = ECKey.generate_key("P-256", auto_kid=False)
    return dict(key.as_dict(private=True))


class Es256Signer:
    """ES256 over one P-256 key; ``kid`` is its RFC 7638 thumbprint, so it is stable for
    the key's life and identical on every node."""

    alg = "ES256"

    def __init__(self, private_jwk: dict[str, Any]) -> None:
        self._key = ECKey.import_key({k: v for k, v in private_jwk.items() if k != "kid"})
        if not self._key.is_private:
            raise ValueError("a private key is required")
        self.kid = self._key.thumbprint()

    def sign(self, claims: dict[str, Any]) -> str:
        header = {"alg": self.alg, "typ": TYP, "kid": self.kid}
        return jwt.encode(header, claims, self._key, algorithms=[self.alg])

    def public_jwk(self) -> dict[str, Any]:
        public = dict(self._key.as_dict(private=False))
        return public | {"kid": self.kid, "use": "sig", "alg": self.alg}

    def public_jwks(self) -> dict[str, Any]:
        return {"keys": [self.public_jwk()]}
