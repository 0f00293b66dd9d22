"""DPoP proof checks in isolation (RFC 9449 section 4.3), each rule on its own."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwk, jwt

from ostiary.oidc.dpop import normalize_htu, verify_proof
from ostiary.oidc.errors import InvalidDpopProof
from ostiary.web.oauth.replay import MemoryReplayCache
from tests.support.oauth import dpop_proof, ec_key

URL = "https://idp.example.com/token"


def _check(proof: str | list[str], **kw):
    args = {
        "method": "POST",
        "url": URL,
        "now": int(time.time()),
        "max_age": 60,
        "replay": MemoryReplayCache(),
    } | kw
    return verify_proof(proof if isinstance(proof, list) else [proof], **args)


def test_a_good_proof_yields_the_thumbprint():
    key = ec_key()
    assert _check(dpop_proof(key, "POST", URL)).jkt == key.thumbprint()


def test_query_and_fragment_and_default_port_are_ignored_in_htu():
    """Section 4.3 check 9 and RFC 3986 section 6.2.3 normalisation."""
    key = ec_key()
    assert _check(dpop_proof(key, "POST", "HTTPS://IDP.example.com:443/token?x=1"))
    assert normalize_htu("http://a.example:80/p?q#f") == "http://a.example/p"
    assert normalize_htu("http://a.example:8080/p") == "http://a.example:8080/p"


def test_symmetric_and_none_algorithms_are_refused():
    key = ec_key()
    header = {"typ": "dpop+jwt", "alg": "HS256", "jwk": key.as_dict(private=False)}
    claims = {"jti": "a", "htm": "POST", "htu": URL, "iat": int(time.time())}
    hs = jwt.encode(header, claims, jwk.OctKey.generate_key(256))
    with pytest.raises(InvalidDpopProof):
        _check(hs)
    none_header = header | {"alg": "none"}
    unsigned = (
        ".".join(
            base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
            for part in (none_header, claims)
        )
        + "."
    )
    with pytest.raises(InvalidDpopProof):
        _check(unsigned)


@pytest.mark.parametrize(
    ("iat_offset", "jti"),
    [
        (60, None),  # from the future (more than the 5 s allowance)
        (-61, None),  # older than max_age
        (0, ""),  # empty jti
    ],
)
def test_claim_rules(iat_offset: int, jti: str | None):
    # Times are computed when the test runs, not when it is collected.
    key = ec_key()
    proof = dpop_proof(key, "POST", URL, iat=int(time.time()) + iat_offset, jti=jti)
    with pytest.raises(InvalidDpopProof):
        _check(proof)


def test_two_dpop_headers_are_refused():
    key = ec_key()
    with pytest.raises(InvalidDpopProof, match="exactly one"):
        _check([dpop_proof(key, "POST", URL), dpop_proof(key, "POST", URL)])


def test_proof_signed_by_a_key_other_than_its_jwk_is_refused():
    key, other = ec_key(), ec_key()
    forged = dpop_proof(other, "POST", URL, extra_header={"jwk": key.as_dict(private=False)})
    with pytest.raises(InvalidDpopProof, match="signature"):
        _check(forged)


def test_an_eddsa_proof_verifies_without_a_deprecation_warning():
    """Section 4.3 check 5: EdDSA (Ed25519), which discovery advertises, is accepted;
    warnings are errors under pytest, so joserfc's EdDSA warning would fail this."""
    key = jwk.OKPKey.generate_key("Ed25519")
    assert _check(dpop_proof(key, "POST", URL, alg="EdDSA")).jkt == key.thumbprint()
