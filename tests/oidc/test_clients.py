"""Client registration rules (issue 6 point 2; RFC 7591 section 2; RFC 8252 sections 7.1
and 7.3 for native redirect URIs; RFC 9700 section 4.1.3 exact matching)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from ostiary.oidc.clients import ClientError, build, rotate_secret, validate_redirect_uri

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def _client(**kw):
    args = {
        "client_id": "c1",
        "name": "wiki",
        "client_type": "confidential",
        "auth_method": None,
        "redirect_uris": ["https://wiki.example.com/cb"],
        "grant_types": ["authorization_code", "refresh_token"],
        "scopes": ["openid"],
        "jwks": None,
        "now": T0,
    }
    return build(**(args | kw))


@pytest.mark.parametrize(
    "uri",
    [
        "https://app.example.com/cb",
        "http://127.0.0.1:8123/cb",
        "http://localhost/cb",
        "com.example.app:/oauth2redirect",
    ],
)
def test_acceptable_redirect_uris(uri: str):
    assert validate_redirect_uri(uri) == uri


@pytest.mark.parametrize(
    "uri",
    ["/relative", "https://app.example.com/cb#frag", "http://app.example.com/cb", "myapp:/cb"],
)
def test_refused_redirect_uris(uri: str):
    with pytest.raises(ClientError):
        validate_redirect_uri(uri)


def test_confidential_client_gets_a_secret_public_client_none():
    confidential, secret = _client()
    assert confidential.auth_method == "client_secret_basic"
    assert secret is not None and secret.startswith("ost_cs_") and len(secret) > 40
    assert confidential.secret_matches(secret, T0)
    public, none = _client(client_type="public")
    assert public.auth_method == "none" and none is None and public.secrets == ()


@pytest.mark.parametrize(
    "kw",
    [
        {"client_type": "public", "auth_method": "client_secret_basic"},
        {"auth_method": "private_key_jwt"},  # no keys registered
        {"redirect_uris": []},
        {"grant_types": ["implicit"]},
        {"client_type": "public", "grant_types": ["client_credentials"]},
        {"name": " "},
    ],
)
def test_invalid_registrations(kw: dict):
    with pytest.raises(ClientError):
        _client(**kw)


def test_rotation_keeps_the_old_secret_for_the_overlap_only():
    client, old = _client()
    new, ending = rotate_secret(client, T0, timedelta(hours=24))
    assert new.version == 2 and [e.version for e in ending] == [1]
    rotated = client.__class__(**{**client.__dict__, "secrets": (*ending, new)})
    assert rotated.secret_matches(old, T0 + timedelta(hours=23))
    assert rotated.secret_matches(new.secret, T0 + timedelta(hours=23))
    assert not rotated.secret_matches(old, T0 + timedelta(hours=24))
    assert rotated.secret_matches(new.secret, T0 + timedelta(days=400))
    assert not rotated.secret_matches("ost_cs_wrong", T0)
