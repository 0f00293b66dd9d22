"""Config OP certification profile (``oidcc-config-certification-test-plan``): its one
module, the discovery document and the JWKS it points at."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from tests.conformance.oidc.harness import OP, module

OIDC_RESPONSE_TYPES = {"code", "code id_token", "id_token", "token id_token"}
NQCHAR = re.compile(r"[\x21\x23-\x5B\x5D-\x7E]+")  # RFC 6749 3.3 scope-token
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k", "oth"}  # RFC 7518 6.2.2, 6.3.2, 6.4


def _is_url_under(value: object, issuer: str) -> bool:
    """An absolute URL on the issuer's origin. The module requires https for every
    endpoint; the test server is loopback http, so this checks what a deployment inherits
    from OSTIARY_ISSUER instead (every endpoint is built from it)."""
    if not isinstance(value, str):
        return False
    parts, base = urlsplit(value), urlsplit(issuer)
    return (parts.scheme, parts.netloc) == (base.scheme, base.netloc) and not parts.fragment


@module("oidcc-discovery-endpoint-verification")
def test_oidcc_discovery_endpoint_verification(basic_op: OP):
    """OIDC Discovery 1.0 sections 3 and 4 (and RFC 8414 2): what the module checks."""
    url = f"{basic_op.base}/.well-known/openid-configuration"
    resp = httpx.get(url)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/json")
    doc = resp.json()
    issuer = doc["issuer"]
    # 4.3: the issuer is the URL the document was fetched under, less the well-known path
    assert url == issuer + "/.well-known/openid-configuration"
    parts = urlsplit(issuer)
    assert parts.scheme in {"https", "http"} and parts.netloc and not parts.query
    assert not parts.fragment
    assert OIDC_RESPONSE_TYPES & set(doc["response_types_supported"])
    assert doc["subject_types_supported"] and set(doc["subject_types_supported"]) <= {
        "public",
        "pairwise",
    }
    assert "RS256" in doc["id_token_signing_alg_values_supported"]
    for name in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri"):
        assert _is_url_under(doc[name], issuer), name
    for name, value in doc.items():
        if name.endswith("_endpoint"):
            assert _is_url_under(value, issuer), name
    assert isinstance(doc["grant_types_supported"], list) and doc["grant_types_supported"]
    assert "authorization_code" in doc["grant_types_supported"]
    assert "openid" in doc["scopes_supported"]
    assert all(NQCHAR.fullmatch(s) for s in doc["scopes_supported"])
    assert {"sub", "iss", "aud", "exp", "iat"} <= set(doc["claims_supported"])
    assert isinstance(doc["code_challenge_methods_supported"], list)
    for name in ("ui_locales_supported", "claims_locales_supported"):
        for tag in doc.get(name, []):  # RFC 5646 language tags
            assert re.fullmatch(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*", tag), tag
    for flag in ("claims_parameter_supported", "request_parameter_supported"):
        assert isinstance(doc.get(flag, False), bool)
    _check_jwks(doc["jwks_uri"])


def _check_jwks(uri: str) -> None:
    """ValidateServerJWKs, CheckForKeyIdInServerJWKs, CheckDistinctKeyIdValueInServerJWKs,
    EnsureServerJwksDoesNotContainPrivateOrSymmetricKeys (RFC 7517 4-5, RFC 7518 6)."""
    resp = httpx.get(uri)
    assert resp.status_code == 200
    keys = resp.json()["keys"]
    assert keys
    kids = [k["kid"] for k in keys]
    assert len(set(kids)) == len(kids)
    for key in keys:
        assert key["kty"] in {"RSA", "EC", "OKP"}
        assert not PRIVATE_MEMBERS & set(key)
        assert key.get("use", "sig") == "sig"
    assert any(k["kty"] == "RSA" and k.get("alg", "RS256") == "RS256" for k in keys)
