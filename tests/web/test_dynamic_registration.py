"""Dynamic client registration (RFC 7591 sections 3.1-3.2) and management (RFC 7592
sections 2.1-2.3): off by default, an initial access token required."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from ostiary.store import bootstrap
from ostiary.store.repositories.registration_tokens import INITIAL, RegistrationTokenRepository
from ostiary.web.app import create_app
from tests.support.deploy import Deployment, deploy

META = {
    "client_name": "wiki",
    "redirect_uris": ["https://wiki.example.com/cb"],
    "token_endpoint_auth_method": "client_secret_basic",
    "grant_types": ["authorization_code"],
    "scope": "openid email",
}


@pytest.fixture
def reg(database_url: str, tmp_path: Path) -> Iterator[tuple[TestClient, Deployment]]:
    dep = deploy(database_url, tmp_path, dynamic_registration=True)
    app = create_app(dep.settings)
    with TestClient(app, base_url="http://testserver") as tc:
        yield tc, dep
    app.state.ctx.db.dispose()
    dep.db.dispose()


def _initial(dep: Deployment, lifetime: timedelta = timedelta(hours=1)) -> str:
    now = datetime.now(UTC)
    pepper = bootstrap.load_pepper(dep.db, bootstrap.open_vault(dep.settings, dep.db))
    with dep.db.begin() as conn:
        return RegistrationTokenRepository(conn, pepper).issue(
            INITIAL, now, expires_at=now + lifetime
        )


def test_registration_is_off_by_default(client: TestClient):
    assert client.post("/register", json=META).status_code in {404, 405}
    assert "registration_endpoint" not in client.get("/.well-known/openid-configuration").json()


def test_register_read_update_delete(reg: tuple[TestClient, Deployment]):
    client, dep = reg
    assert client.get("/.well-known/openid-configuration").json()["registration_endpoint"] == (
        "http://testserver/register"
    )
    auth = {"Authorization": f"Bearer {_initial(dep)}"}
    made = client.post("/register", json=META, headers=auth)
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["client_secret"].startswith("ost_cs_") and body["client_secret_expires_at"] == 0
    assert body["redirect_uris"] == META["redirect_uris"] and body["scope"] == "openid email"
    manage = {"Authorization": f"Bearer {body['registration_access_token']}"}
    uri = body["registration_client_uri"]
    got = client.get(uri, headers=manage)
    assert got.status_code == 200 and "client_secret" not in got.json()
    update = META | {"client_id": body["client_id"], "redirect_uris": ["https://w.example/cb"]}
    put = client.put(uri, json=update, headers=manage)
    assert put.status_code == 200 and put.json()["redirect_uris"] == ["https://w.example/cb"]
    # The initial token is not a registration access token, and vice versa.
    assert client.get(uri, headers=auth).status_code == 401
    assert client.post("/register", json=META, headers=manage).status_code == 401
    assert client.delete(uri, headers=manage).status_code == 204
    assert client.get(uri, headers=manage).status_code == 401


@pytest.mark.parametrize(
    ("meta", "error"),
    [
        (META | {"redirect_uris": ["http://evil.example/cb"]}, "invalid_redirect_uri"),
        (META | {"redirect_uris": ["https://a.example/cb#x"]}, "invalid_redirect_uri"),
        (META | {"token_endpoint_auth_method": "magic"}, "invalid_client_metadata"),
        (META | {"grant_types": ["implicit"]}, "invalid_client_metadata"),
        (META | {"redirect_uris": "https://a.example/cb"}, "invalid_client_metadata"),
    ],
)
def test_bad_metadata(reg: tuple[TestClient, Deployment], meta: dict, error: str):
    client, dep = reg
    resp = client.post("/register", json=meta, headers={"Authorization": f"Bearer {_initial(dep)}"})
    assert resp.status_code == 400 and resp.json()["error"] == error


def test_missing_or_expired_initial_token(reg: tuple[TestClient, Deployment]):
    client, dep = reg
    assert client.post("/register", json=META).status_code == 401
    expired = _initial(dep, timedelta(seconds=-1))
    resp = client.post("/register", json=META, headers={"Authorization": f"Bearer {expired}"})
    assert resp.status_code == 401 and resp.json()["error"] == "invalid_token"
    assert "Bearer" in resp.headers["www-authenticate"]
