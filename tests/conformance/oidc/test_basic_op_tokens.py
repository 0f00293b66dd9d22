"""Basic OP certification profile: the token endpoint, redirect URI, request object,
refresh and PKCE modules."""

from __future__ import annotations

import base64
import json
import re
from concurrent.futures import Future
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from authlib.integrations.httpx_client import OAuthError

from tests.conformance.oidc.harness import (
    OP,
    Browser,
    Client,
    ErrorPage,
    RelyingParty,
    error_redirect,
    flow,
    module,
    reuse_code,
    token_error,
)
from tests.support.server import free_port

# the oidcc-codereuse-30seconds wait runs while these modules run (see conftest)
pytestmark = pytest.mark.usefixtures("reused_after_30s")


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def _with_query(url: str, params: dict[str, str]) -> str:
    return urlsplit(url)._replace(query=urlencode(params)).geturl()


@module("oidcc-codereuse")
def test_oidcc_codereuse(rp: RelyingParty, browser: Browser):
    """RFC 6749 4.1.2 / OIDC Core 3.1.3.2: a code is single use; the second redemption is
    invalid_grant (RFC 6749 5.2)."""
    reuse_code(rp, browser, wait=0)


@module("oidcc-codereuse-30seconds")
def test_oidcc_codereuse_30seconds(reused_after_30s: Future):
    """RFC 6749 4.1.2: reused 30 s later (well inside the code's lifetime) it is still
    invalid_grant, and the access token issued for it is revoked (a warning in the
    suite; Ostiary promises it, so here it must hold). The 30 s pass in the background
    while the other Basic modules run (conftest ``reused_after_30s``)."""
    rp, token = reused_after_30s.result(timeout=120)
    rp.oauth.token = token
    info = rp.userinfo()
    assert info.status_code == 401
    assert 'error="invalid_token"' in info.headers["www-authenticate"]


@module("oidcc-ensure-registered-redirect-uri")
def test_oidcc_ensure_registered_redirect_uri(
    basic_op: OP, clients: dict[str, Client], browser: Browser
):
    """OIDC Core 3.1.2.1 / RFC 6749 4.1.2.1: an unregistered redirect_uri gets an error
    page, never a redirect to it."""
    good = clients["client"]
    bad = Client(good.client_id, good.secret, f"http://127.0.0.1:{free_port()}/cb")
    rp = RelyingParty(basic_op, bad)
    try:
        req = rp.begin()
        with pytest.raises(ErrorPage) as page:
            browser.go(req.url, bad.redirect_uri)
        assert page.value.status == 400 and "redirect_uri" in page.value.text
    finally:
        rp.close()


@module("oidcc-ensure-redirect-uri-in-authorization-request")
def test_oidcc_ensure_redirect_uri_in_authorization_request(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1 (redirect_uri REQUIRED), 3.1.2.6: without it the OP shows an error
    page (or redirects invalid_request); from the Dynamic OP plan, named in issue 6."""
    req = rp.begin()
    params = _query(req.url)
    del params["redirect_uri"]
    with pytest.raises(ErrorPage) as page:
        browser.go(_with_query(req.url, params), rp.client.redirect_uri)
    assert page.value.status == 400 and "redirect_uri" in page.value.text


@module("oidcc-ensure-post-request-succeeds")
def test_oidcc_ensure_post_request_succeeds(rp: RelyingParty, browser: Browser):
    """OIDC Core 3.1.2.1: the authorization endpoint accepts POST (form-encoded)."""
    req = rp.begin()
    callback = browser.go(
        rp.meta["authorization_endpoint"], rp.client.redirect_uri, form=_query(req.url)
    )
    rp.id_token(rp.finish(req, callback), nonce=req.nonce)


@module("oidcc-server-client-secret-post")
def test_oidcc_server_client_secret_post(rp_factory: Any, browser: Browser):
    """RFC 6749 2.3.1 client_secret_post: the credentials travel in the token request body,
    with no Authorization header, and the flow completes."""
    rp = rp_factory(client="post")
    flow(rp, browser)
    sent = next(r.request for r in rp.responses if r.request.url.path == "/token")
    assert "authorization" not in sent.headers
    form = dict(parse_qsl(sent.content.decode()))
    assert form["client_id"] == rp.client.client_id and form["client_secret"] == rp.client.secret


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    def b64(doc: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    return f"{b64({'alg': 'none'})}.{b64(claims)}."


def _request_object(rp: RelyingParty, req: Any) -> tuple[dict[str, str], str]:
    """The request's parameters, and the same as an unsigned request object (OIDC Core 6.1)."""
    params = _query(req.url)
    claims = {**params, "iss": rp.client.client_id, "aud": rp.meta["issuer"]}
    return params, _unsigned_jwt(claims)


@module("oidcc-request-uri-unsigned-supported-correctly-or-rejected-as-unsupported")
def test_oidcc_request_uri_unsigned_supported_correctly_or_rejected_as_unsupported(
    rp: RelyingParty, browser: Browser
):
    """OIDC Core 6.2 / 3.1.2.6: request_uri is either processed or refused with
    request_uri_not_supported; Discovery 3 says so in request_uri_parameter_supported
    (whose default is true, so it must be published as false)."""
    assert rp.meta.get("request_uri_parameter_supported") is False
    req = rp.begin()
    params, _ = _request_object(rp, req)
    params["request_uri"] = "https://rp.example.com/request.jwt"
    url = _with_query(req.url, params)
    got = error_redirect(browser.go(url, rp.client.redirect_uri), req, rp.meta["issuer"])
    assert got["error"] == "request_uri_not_supported"


@module("oidcc-unsigned-request-object-supported-correctly-or-rejected-as-unsupported")
def test_oidcc_unsigned_request_object_supported_correctly_or_rejected_as_unsupported(
    rp: RelyingParty, browser: Browser
):
    """OIDC Core 6.1 / 3.1.2.6: a request object is processed or refused with
    request_not_supported, never silently ignored."""
    assert rp.meta.get("request_parameter_supported", False) is False
    req = rp.begin()
    params, request = _request_object(rp, req)
    url = _with_query(req.url, {**params, "request": request})
    got = error_redirect(browser.go(url, rp.client.redirect_uri), req, rp.meta["issuer"])
    assert got["error"] == "request_not_supported"


@module("oidcc-ensure-request-object-with-redirect-uri")
def test_oidcc_ensure_request_object_with_redirect_uri(rp: RelyingParty, browser: Browser):
    """OIDC Core 6.1: the request object's redirect_uri would take precedence; an OP that
    does not process request objects must then not redirect to the unregistered
    redirect_uri given as a plain parameter (RFC 6749 4.1.2.1): an error page."""
    req = rp.begin()
    params, request = _request_object(rp, req)
    bad = f"http://127.0.0.1:{free_port()}/elsewhere"
    url = _with_query(req.url, {**params, "redirect_uri": bad, "request": request})
    with pytest.raises(ErrorPage) as page:
        browser.go(url, bad)
    assert page.value.status == 400


@module("oidcc-ensure-request-with-valid-pkce-succeeds")
def test_oidcc_ensure_request_with_valid_pkce_succeeds(rp: RelyingParty, browser: Browser):
    """RFC 7636 4.3-4.6: a confidential client's valid S256 PKCE request succeeds."""
    req = rp.begin(pkce=True)
    assert _query(req.url)["code_challenge_method"] == "S256"
    rp.id_token(rp.finish(req, browser.go(req.url, rp.client.redirect_uri)), nonce=req.nonce)
    sent = next(r.request for r in rp.responses if r.request.url.path == "/token")
    assert dict(parse_qsl(sent.content.decode()))["code_verifier"] == req.verifier


# RFC 6749 A.17: refresh-token = 1*VSCHAR
VSCHAR = re.compile(r"[\x20-\x7E]+")


@module("oidcc-refresh-token")
def test_oidcc_refresh_token(rp_factory: Any, browser: Browser):
    """RFC 6749 6 / OIDC Core 12: offline_access (with prompt=consent, OIDC Core 11)
    yields a refresh token; refreshing returns a working access token and an ID token with
    the same iss, sub, aud and auth_time (12.2); a refresh token issued to client2 is
    refused to client (invalid_grant, RFC 6749 6)."""
    scope = "openid offline_access"
    rp = rp_factory(scope=scope)
    token, first = flow(rp, browser, prompt="consent")
    assert VSCHAR.fullmatch(token["refresh_token"])
    refreshed = dict(rp.oauth.refresh_token(rp.meta["token_endpoint"]))
    second = rp.id_token(refreshed, nonce=None)
    for claim in ("iss", "sub", "aud", "auth_time"):
        assert second[claim] == first[claim], claim
    assert refreshed["access_token"] != token["access_token"]
    assert rp.userinfo().json()["sub"] == first["sub"]

    rp2 = rp_factory(scope=scope, client="client2")
    other, _ = flow(rp2, browser, prompt="consent")
    with pytest.raises(OAuthError):
        rp.oauth.refresh_token(rp.meta["token_endpoint"], refresh_token=other["refresh_token"])
    token_error(rp, "invalid_grant")
    # client2's own refresh token still works: the refused attempt did not spend it
    assert "access_token" in rp2.oauth.refresh_token(rp.meta["token_endpoint"])


@module("oidcc-claims-essential")
def test_oidcc_claims_essential(rp: RelyingParty, browser: Browser):
    """OIDC Core 5.5 / 5.5.1: ``name`` asked for as an essential UserInfo claim (scope
    openid only) is released at UserInfo and not put in the ID token (the module's
    EnsureUserInfoContainsName and EnsureIdTokenDoesNotContainName, warnings there)."""
    assert rp.meta["claims_parameter_supported"] is True
    claims_param = json.dumps({"userinfo": {"name": {"essential": True}}})
    _, claims = flow(rp, browser, claims=claims_param)
    info = rp.userinfo().json()
    assert info["sub"] == claims["sub"] and info["name"] == "Ada Lovelace"
    assert "name" not in claims
