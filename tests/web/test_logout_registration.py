"""Logout metadata in dynamic registration (RFC 7591 section 2 extended by Back-Channel
Logout 1.0 section 2.2 and RP-Initiated Logout 1.0 section 3.1): registered, returned,
replaced by RFC 7592 PUT, and refused when malformed."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from tests.support.deploy import Deployment
from tests.web.test_dynamic_registration import META, _initial, reg  # noqa: F401  (fixture)

LOGOUT = {
    "backchannel_logout_uri": "https://wiki.example.com/bcl",
    "backchannel_logout_session_required": True,
    "post_logout_redirect_uris": ["https://wiki.example.com/bye"],
}


def test_logout_metadata_round_trips(reg: tuple[TestClient, Deployment]):  # noqa: F811
    client, dep = reg
    made = client.post(
        "/register", json=META | LOGOUT, headers={"Authorization": f"Bearer {_initial(dep)}"}
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert {k: body[k] for k in LOGOUT} == LOGOUT
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    uri = f"/register/{body['client_id']}"
    assert {k: client.get(uri, headers=auth).json()[k] for k in LOGOUT} == LOGOUT
    # RFC 7592 section 2.2: fields left out of a PUT are removed.
    changed = META | {
        "client_id": body["client_id"],
        "backchannel_logout_uri": LOGOUT["backchannel_logout_uri"] + "2",
    }
    put = client.put(uri, json=changed, headers=auth)
    assert put.status_code == 200, put.text
    assert put.json()["backchannel_logout_uri"] == "https://wiki.example.com/bcl2"
    assert "post_logout_redirect_uris" not in put.json()


@pytest.mark.parametrize(
    ("meta", "error"),
    [
        (
            {"backchannel_logout_uri": "https://wiki.example.com/bcl#frag"},
            "invalid_client_metadata",
        ),
        ({"backchannel_logout_uri": "http://wiki.example.com/bcl"}, "invalid_client_metadata"),
        ({"backchannel_logout_uri": 7}, "invalid_client_metadata"),
        ({"backchannel_logout_session_required": "yes"}, "invalid_client_metadata"),
        ({"post_logout_redirect_uris": ["http://evil.example/"]}, "invalid_redirect_uri"),
        ({"post_logout_redirect_uris": "https://wiki.example.com/bye"}, "invalid_redirect_uri"),
    ],
)
def test_bad_logout_metadata_is_refused(
    reg: tuple[TestClient, Deployment],  # noqa: F811
    meta: dict[str, object],
    error: str,
):
    client, dep = reg
    resp = client.post(
        "/register", json=META | meta, headers={"Authorization": f"Bearer {_initial(dep)}"}
    )
    assert resp.status_code == 400 and resp.json()["error"] == error, resp.text
