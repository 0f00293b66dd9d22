"""Back-Channel Logout OP profile
(``oidcc-backchannel-rp-initiated-logout-certification-test-plan``): the logout token a
client's backchannel_logout_uri receives when the user signs out through RP-initiated
logout, checked as Back-Channel Logout 1.0 section 2.6 tells a relying party to."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.conformance.oidc.harness import OP, Browser, module
from tests.conformance.oidc.logout import (
    end_session,
    logged_out,
    logout_token,
    long_state,
)
from tests.conformance.oidc.test_config_op import _is_url_under
from tests.support.receiver import receiver


@module("oidcc-backchannel-logout-discovery-endpoint-verification")
def test_oidcc_backchannel_logout_discovery_endpoint_verification(basic_op: OP):
    """Back-Channel Logout 1.0 section 2.1 (and the certification's sid requirement)."""
    assert basic_op.meta["backchannel_logout_supported"] is True
    assert basic_op.meta["backchannel_logout_session_supported"] is True
    assert _is_url_under(basic_op.meta["end_session_endpoint"], basic_op.meta["issuer"])


@module("oidcc-backchannel-rp-initiated-logout")
def test_oidcc_backchannel_rp_initiated_logout(basic_op: OP, browser: Browser, logout_client: Any):
    """Back-Channel Logout 1.0 sections 2.4-2.6 with RP-Initiated Logout: the client's
    backchannel_logout_uri receives a logout token for the session (its sid and sub
    match the ID token's), the browser reaches post_logout_redirect_uri with the state,
    and prompt=none then fails."""
    with receiver() as hook:
        s = logout_client(
            backchannel_logout_uri=hook.url,
            backchannel_logout_session_required=True,
        )
        assert s.claims["sid"]
        state = long_state()
        params = {
            "id_token_hint": s.token["id_token"],
            "post_logout_redirect_uri": s.post_logout,
            "state": state,
        }
        out = end_session(browser, basic_op.meta["end_session_endpoint"], params, s.post_logout)
        query = dict(parse_qsl(urlsplit(out.redirect or "").query))
        assert out.redirect is not None and query == {"state": state}
        got = hook.wait_for(1, timeout=15)
        assert len(got) == 1, "no back-channel logout request arrived"
        claims = logout_token(basic_op, got[0], s.rp.client.client_id)
        assert claims["sid"] == s.claims["sid"] and claims["sub"] == s.claims["sub"]
        logged_out(s.rp, browser)
        assert len(hook.wait_for(2, timeout=1)) == 1  # one token per client session
