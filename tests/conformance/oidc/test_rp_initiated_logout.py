"""RP-Initiated Logout OP profile (``oidcc-rp-initiated-logout-certification-test-plan``):
sign in through the Basic flow, then send the user agent to the end_session_endpoint."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.conformance.oidc.harness import OP, Browser, ErrorPage, module
from tests.conformance.oidc.logout import (
    SignedIn,
    alg_none,
    end_session,
    logged_out,
    long_state,
)
from tests.conformance.oidc.test_config_op import _is_url_under


def _query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


@module("oidcc-rp-initiated-logout-discovery-endpoint-verification")
def test_oidcc_rp_initiated_logout_discovery_endpoint_verification(basic_op: OP):
    """RP-Initiated Logout 1.0 section 2.1: discovery publishes end_session_endpoint."""
    assert _is_url_under(basic_op.meta["end_session_endpoint"], basic_op.meta["issuer"])


@module("oidcc-rp-initiated-logout")
def test_oidcc_rp_initiated_logout(basic_op: OP, browser: Browser, logout_client: Any):
    """Section 2-3: with id_token_hint, a registered post_logout_redirect_uri and state,
    the OP redirects there with exactly the state, and the session is over."""
    s = logout_client()
    state = long_state()
    out = end_session(
        browser, basic_op.meta["end_session_endpoint"], _full(s, state), s.post_logout
    )
    assert out.redirect is not None and _query(out.redirect) == {"state": state}
    logged_out(s.rp, browser)


def _full(s: SignedIn, state: str | None) -> dict[str, str]:
    """CreateEndSessionEndpointRequest: id_token_hint, post_logout_redirect_uri, state."""
    params = {"id_token_hint": s.token["id_token"], "post_logout_redirect_uri": s.post_logout}
    return params | ({"state": state} if state is not None else {})


def _never_redirects(op: OP, browser: Browser, params: dict[str, str], stop_at: str) -> None:
    """The OP must not redirect back: an error page, or a confirmation that ends at the
    signed-out page (section 3: only registered URIs, only for a verified client)."""
    try:
        out = end_session(browser, op.meta["end_session_endpoint"], params, stop_at)
    except ErrorPage as page:
        assert page.status == 400
        return
    assert out.redirect is None and out.page is not None


@module("oidcc-rp-initiated-logout-bad-post-logout-redirect-uri")
def test_oidcc_rp_initiated_logout_bad_post_logout_redirect_uri(
    basic_op: OP, browser: Browser, logout_client: Any
):
    """Section 3.1: a post_logout_redirect_uri that is not registered is never used."""
    s = logout_client()
    bad = s.post_logout.replace("/post_logout_redirect", "/elsewhere")
    params = {"id_token_hint": s.token["id_token"], "post_logout_redirect_uri": bad}
    _never_redirects(basic_op, browser, params, bad.rsplit("/", 1)[0])


@module("oidcc-rp-initiated-logout-modified-id-token-hint")
def test_oidcc_rp_initiated_logout_modified_id_token_hint(
    basic_op: OP, browser: Browser, logout_client: Any
):
    """Section 2: the OP verifies that it issued the id_token_hint; an alg=none copy does
    not identify the client, so no redirect."""
    s = logout_client()
    params = {
        "id_token_hint": alg_none(s.token["id_token"]),
        "post_logout_redirect_uri": s.post_logout,
        "state": long_state(),
    }
    _never_redirects(basic_op, browser, params, s.post_logout)


@module("oidcc-rp-initiated-logout-no-id-token-hint")
def test_oidcc_rp_initiated_logout_no_id_token_hint(
    basic_op: OP, browser: Browser, logout_client: Any
):
    """Section 2: without id_token_hint (or client_id) the redirect URI belongs to no
    known client, so it is not used."""
    s = logout_client()
    params = {"post_logout_redirect_uri": s.post_logout, "state": long_state()}
    _never_redirects(basic_op, browser, params, s.post_logout)


@module("oidcc-rp-initiated-logout-no-params")
def test_oidcc_rp_initiated_logout_no_params(basic_op: OP, browser: Browser, logout_client: Any):
    """Section 2: no parameters at all; the user confirms and is signed out."""
    s = logout_client()
    out = end_session(browser, basic_op.meta["end_session_endpoint"], {}, s.post_logout)
    assert out.redirect is None and out.page is not None and out.confirmations == 1
    logged_out(s.rp, browser)


@module("oidcc-rp-initiated-logout-no-post-logout-redirect-uri")
def test_oidcc_rp_initiated_logout_no_post_logout_redirect_uri(
    basic_op: OP, browser: Browser, logout_client: Any
):
    """Section 2: a valid id_token_hint and no post_logout_redirect_uri: signed out, shown
    the OP's own page."""
    s = logout_client()
    params = {"id_token_hint": s.token["id_token"], "state": long_state()}
    out = end_session(browser, basic_op.meta["end_session_endpoint"], params, s.post_logout)
    assert out.redirect is None and out.page is not None
    logged_out(s.rp, browser)


@module("oidcc-rp-initiated-logout-no-state")
def test_oidcc_rp_initiated_logout_no_state(basic_op: OP, browser: Browser, logout_client: Any):
    """Section 2-3: without state the redirect carries no parameters at all."""
    s = logout_client()
    out = end_session(browser, basic_op.meta["end_session_endpoint"], _full(s, None), s.post_logout)
    assert out.redirect is not None and _query(out.redirect) == {}
    logged_out(s.rp, browser)


@module("oidcc-rp-initiated-logout-only-state")
def test_oidcc_rp_initiated_logout_only_state(basic_op: OP, browser: Browser, logout_client: Any):
    """Section 2: only state: nothing to redirect to; the user confirms and is signed out."""
    s = logout_client()
    params = {"state": long_state()}
    out = end_session(browser, basic_op.meta["end_session_endpoint"], params, s.post_logout)
    assert out.redirect is None and out.page is not None
    logged_out(s.rp, browser)
