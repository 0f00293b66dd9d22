"""Whatever a client sends to the OAuth endpoints or as a SCIM credential, the answer is a
4xx in the protocol's format, never a 5xx (RFC 6749 section 5.2, RFC 9449 section 7.1)."""

from __future__ import annotations

import base64

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.support.deploy import Deployment

TEXT = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=0, max_size=80)
JWTISH = st.builds(
    lambda a, b, c: ".".join(
        base64.urlsafe_b64encode(x.encode()).decode().rstrip("=") for x in (a, b, c)
    ),
    TEXT,
    TEXT,
    TEXT,
)
SLOW = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SLOW
@given(
    form=st.dictionaries(
        st.sampled_from(
            [
                "grant_type",
                "client_id",
                "client_secret",
                "client_assertion",
                "client_assertion_type",
                "scope",
                "token",
            ]
        ),
        st.one_of(TEXT, JWTISH),
        max_size=5,
    ),
    authz=st.one_of(
        st.none(), TEXT.map(lambda t: "Basic " + t), JWTISH.map(lambda t: "Basic " + t)
    ),
    dpop=st.one_of(st.none(), TEXT, JWTISH),
)
def test_token_revoke_introspect_never_5xx(client: TestClient, form, authz, dpop):
    headers = {}
    if authz is not None:
        headers["Authorization"] = authz
    if dpop is not None:
        headers["DPoP"] = dpop
    for path in ("/token", "/revoke", "/introspect"):
        resp = client.post(path, data=form, headers=headers)
        assert 400 <= resp.status_code < 500, (path, resp.status_code, resp.text)
        assert "error" in resp.json() or resp.status_code == 200


@SLOW
@given(
    scheme=st.sampled_from(["Bearer", "DPoP", "dpop", "bearer"]),
    token=JWTISH,
    dpop=st.one_of(st.none(), TEXT, JWTISH),
)
def test_scim_with_garbage_tokens_is_401(
    client: TestClient, deployment: Deployment, scheme, token, dpop
):
    headers = {"Authorization": f"{scheme} {token}"}
    if dpop is not None:
        headers["DPoP"] = dpop
    resp = client.get("/scim/v2/Users/x", headers=headers)
    assert resp.status_code == 401, resp.text
    assert resp.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]
