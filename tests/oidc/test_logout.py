"""The pure logout pieces: Back-Channel Logout 1.0 section 2.4 logout tokens,
RP-Initiated Logout 1.0 section 2 ``id_token_hint`` checks, and client options."""

from __future__ import annotations

import base64

import pytest
from joserfc import jws, jwt
from joserfc.jwk import RSAKey

from ostiary.oidc.clients import ClientError
from ostiary.oidc.logout import (
    EVENT,
    InvalidHint,
    hint_client,
    logout_alg,
    logout_claims,
    may_use,
    sign_logout_token,
    validate_options,
    verify_hint,
)

KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER = RSAKey.generate_key(2048, parameters={"kid": "k1"})


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _hint(claims: dict[str, object], typ: str = "JWT", key: RSAKey = KEY) -> str:
    return jwt.encode({"alg": "RS256", "kid": "k1", "typ": typ}, claims, key)


def _verify(token: str) -> dict[str, object]:
    return verify_hint(token, "https://op", lambda kid: KEY if kid == "k1" else None, ["RS256"])


def test_logout_token_claims_and_header():
    """Section 2.4: iss, aud, iat, exp, jti, sub, sid, events; no nonce; typ logout+jwt."""
    claims = logout_claims("https://op", "rp1", "user-1", "sid-1", "jti-1")
    token = sign_logout_token(("k1", KEY), "RS256", claims, 1_000)
    header = jws.extract_compact(token.encode()).protected
    assert header == {"typ": "logout+jwt", "alg": "RS256", "kid": "k1"}
    decoded = dict(jwt.decode(token, KEY, algorithms=["RS256"]).claims)
    assert decoded == {
        "iss": "https://op",
        "aud": "rp1",
        "sub": "user-1",
        "sid": "sid-1",
        "jti": "jti-1",
        "events": {EVENT: {}},
        "iat": 1_000,
        "exp": 1_120,
    }


def test_an_expired_id_token_is_a_valid_hint():
    """RP-Initiated Logout 1.0 section 2: expiry does not matter for a hint."""
    claims = _verify(_hint({"iss": "https://op", "sub": "u", "aud": "rp1", "exp": 1}))
    assert claims["sub"] == "u" and hint_client(claims) == "rp1"
    assert hint_client({"aud": ["rp2"]}) == "rp2"
    assert hint_client({"aud": ["a", "b"], "azp": "a"}) == "a"


@pytest.mark.parametrize(
    "token",
    [
        _hint({"iss": "https://op", "sub": "u"}, key=OTHER),  # someone else's key, our kid
        _hint({"iss": "https://evil", "sub": "u"}),  # not our issuer
        _hint({"iss": "https://op", "sub": "u"}, typ="at+jwt"),  # an access token
        _hint({"iss": "https://op", "sub": "u"}, typ="logout+jwt"),
        _hint({"iss": "https://op"}),  # no subject
        _b64(b'{"alg":"none","kid":"k1"}') + "." + _b64(b'{"iss":"https://op","sub":"u"}') + ".",
        _b64(b'{"alg":"RS256","kid":5}') + ".e30.x",
        "",
        "..",
        "not.a.jwt",
        "é.b.c",
        "x" * 5000,
    ],
)
def test_bad_hints_are_refused(token: str):
    with pytest.raises(InvalidHint):
        _verify(token)


def test_options_are_validated():
    """Back-Channel Logout 1.0 section 2.2, RP-Initiated Logout 1.0 section 3.1."""
    ok = validate_options(
        {
            "first_party": True,
            "backchannel_logout_uri": "http://127.0.0.1:9/bcl?x=1",
            "backchannel_logout_session_required": False,
            "post_logout_redirect_uris": ["https://rp/bye", "https://rp/bye"],
            "allowed_groups": ["Eng"],
            "post_logout_redirect_uris_none": None,
        }
    )
    assert ok["post_logout_redirect_uris"] == ["https://rp/bye"] and ok["first_party"] is True
    assert "post_logout_redirect_uris_none" not in ok
    for bad in (
        {"backchannel_logout_uri": "https://rp/bcl#f"},
        {"backchannel_logout_uri": "http://rp.example/bcl"},
        {"backchannel_logout_uri": "ftp://127.0.0.1/bcl"},
        {"backchannel_logout_uri": "/relative"},
        {"backchannel_logout_session_required": "true"},
        {"post_logout_redirect_uris": ["http://rp.example/bye"]},
        {"allowed_groups": [""]},
        {"allowed_groups": "Eng"},
    ):
        with pytest.raises(ClientError):
            validate_options(bad)


def test_group_matching_by_id_or_display_name():
    assert may_use({}, [])
    assert may_use({"allowed_groups": []}, [])
    assert may_use({"allowed_groups": ["ENG"]}, [("g1", "eng")])
    assert may_use({"allowed_groups": ["g1"]}, [("g1", "Backend")])
    assert not may_use({"allowed_groups": ["Eng"]}, [("g2", "Ops")])


@pytest.mark.parametrize(
    ("options", "alg"),
    [
        ({}, "RS256"),
        ({"id_token_signed_response_alg": "ES256"}, "ES256"),
        ({"id_token_signed_response_alg": "EdDSA"}, "EdDSA"),
        ({"id_token_signed_response_alg": "HS256"}, "RS256"),
    ],
)
def test_logout_token_alg_follows_the_id_token_alg(options: dict[str, object], alg: str):
    """Section 2.4: a logout token is signed like that client's ID tokens."""
    assert logout_alg(options) == alg
