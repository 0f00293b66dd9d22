"""The ES256 fast path (``oidc.es256``) decides exactly as joserfc does (RFC 7515 section
5.2, RFC 7518 section 3.4, RFC 7638 thumbprints, RFC 9449 section 4.3, RFC 7523 section 3):
each proof or assertion below goes through both and must get the same answer."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwk, jwt

from ostiary.oidc import client_assertion, dpop, es256
from ostiary.oidc.errors import InvalidClient, InvalidDpopProof
from ostiary.web.oauth.replay import MemoryReplayCache
from tests.support.oauth import client_assertion as make_assertion
from tests.support.oauth import dpop_proof, ec_key

URL = "https://idp.example.com/token"
SWAPPED = base64.urlsafe_b64encode(b'{"jti":"x","htm":"POST"}').rstrip(b"=").decode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _joserfc(token: str) -> tuple[dict, str] | str:
    try:
        return dpop._claims(token, dpop._header(token))
    except InvalidDpopProof as exc:
        return exc.description


def _fast(token: str) -> tuple[dict, str] | str | None:
    try:
        return dpop._fast(token)
    except InvalidDpopProof as exc:
        return exc.description


def _resign(key: jwk.ECKey, header: dict, claims: dict) -> str:
    return jwt.encode(header, claims, key)


def test_the_thumbprint_is_rfc7638_as_joserfc_computes_it():
    for _ in range(20):
        key = ec_key()
        got = es256.public_key(key.as_dict(private=False))
        assert got is not None and got.thumbprint == key.thumbprint()


def test_a_plain_proof_takes_the_fast_path_and_agrees_with_joserfc():
    key = ec_key()
    proof = dpop_proof(key, "POST", URL)
    fast = _fast(proof)
    assert fast is not None and fast == _joserfc(proof)


def _mutations(key: jwk.ECKey) -> list[str]:
    public = key.as_dict(private=False)
    claims = {"jti": "j", "htm": "POST", "htu": URL, "iat": int(time.time())}
    good = dpop_proof(key, "POST", URL)
    h, p, s = good.split(".")
    other = ec_key()
    off_curve = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public | {"y": public["x"]}}
    return [
        f"{h}.{SWAPPED}.{s}",  # payload swapped: signature fails
        f"{h}.{p}.{s[:-2]}AA",  # signature altered
        f"{h}.{p}.{_b64(b'x' * 64)}",
        _resign(key, {"typ": "JWT", "alg": "ES256", "jwk": public}, claims),  # wrong typ
        _resign(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": other.as_dict()}, claims),
        _resign(other, {"typ": "dpop+jwt", "alg": "ES256", "jwk": public}, claims),
        _resign(
            key,
            {"typ": "dpop+jwt", "alg": "ES256", "jwk": public, "x5u": "https://x.example"},
            claims,
        ),
        _resign(
            key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": public | {"key_ops": ["sign"]}}, claims
        ),
        _resign(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": public | {"use": "enc"}}, claims),
        _resign(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": public, "kid": "k"}, claims),
        _resign(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": public}, claims | {"iat": 2**70}),
        _resign(key, {"typ": "dpop+jwt", "alg": "ES256", "jwk": public}, claims | {"iat": 1.5}),
        f"{_b64(json.dumps(off_curve).encode())}.{p}.{s}",  # not a point on P-256
        good + ".x",
        "not a jws",
    ]


def test_every_mutation_gets_the_same_answer_from_both_paths():
    key = ec_key()
    decided = 0
    for token in _mutations(key):
        fast = _fast(token)
        if fast is not None:  # None: the fast path declined and joserfc decides alone
            assert fast == _joserfc(token), token
            decided += 1
    assert decided >= 5  # the signature and typ cases are the fast path's own decisions


def test_a_bad_signature_on_the_fast_path_is_the_rfc_error():
    key = ec_key()
    h, _, s = dpop_proof(key, "POST", URL).split(".")
    forged = f"{h}.{SWAPPED}.{s}"
    with pytest.raises(InvalidDpopProof, match="signature"):
        dpop.verify_proof(
            [forged],
            method="POST",
            url=URL,
            now=int(time.time()),
            max_age=60,
            replay=MemoryReplayCache(),
        )


def _assert(token: str, jwks: dict) -> dict | str:
    try:
        return client_assertion.verify_assertion(
            token,
            client_id="c1",
            jwks=jwks,
            audiences={URL},
            now=int(time.time()),
            max_lifetime=300,
            replay=MemoryReplayCache(),
        )
    except InvalidClient as exc:
        return exc.description


def test_client_assertions_fast_and_general_paths_agree():
    key, other = ec_key(), ec_key()
    one = {"keys": [key.as_dict(private=False)]}
    two = {"keys": [other.as_dict(private=False), key.as_dict(private=False)]}
    good = make_assertion(key, "c1", URL)
    assert client_assertion._fast(good, one) is not None
    assert isinstance(_assert(good, one), dict)
    assert isinstance(_assert(make_assertion(key, "c1", URL), two), dict)  # joserfc, by kid
    wrong = make_assertion(other, "c1", URL)
    assert _assert(wrong, one) == "the client assertion signature does not verify"
    with pytest.raises(InvalidClient):
        client_assertion._fast(wrong, one)
