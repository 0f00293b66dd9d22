"""Whatever a client sends to PATCH, PUT or POST: a SCIM 2xx or 4xx, never a 5xx, and a
rejected request writes nothing (RFC 7644 sections 3.5.2 and 3.12)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from ostiary.web.app import create_app
from tests.support.deploy import deploy
from tests.web.scim_support import (
    ALL_SCOPES,
    ENTERPRISE,
    GROUP,
    PATCH,
    UNLIMITED,
    auth,
    user_body,
)

NAMES = ["userName", "displayName", "name", "name.givenName", "emails", "active", "title",
         "emails.value", 'emails[type eq "work"].value', 'emails[type eq "work"]',
         'emails[value co "@"]', "phoneNumbers", f"{ENTERPRISE}:manager", "manager",
         f"{ENTERPRISE}:employeeNumber", ENTERPRISE, "groups", "id", "meta.version",
         "members", 'members[value eq "x"]', "nosuch", "emails[", "emails[type eq]", "",
         "urn:x:y", "x509Certificates", "addresses.region", "password"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=8),
                    st.sampled_from(["True", "False", "work", ""]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["value", "type", "primary", "givenName", "display",
                                         "$ref", "name.givenName", "title", "active"]),
                        inner, max_size=3),
    ),
    max_leaves=6,
)
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "Replace", "remove", "copy"])},
    optional={"path": st.sampled_from(NAMES), "value": values},
)


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, str, str, str]]:
    tmp = Path(tmp_path_factory.mktemp("fuzz"))
    dep = deploy(f"sqlite:///{tmp / 'o.db'}", tmp, **UNLIMITED)
    key = dep.make_key(ALL_SCOPES).token
    app = create_app(dep.settings)
    with TestClient(app, base_url="http://testserver") as tc:
        user = tc.post("/scim/v2/Users", json=user_body("fuzz@example.com"), headers=auth(key))
        group = tc.post("/scim/v2/Groups", json={"schemas": [GROUP], "displayName": "F"},
                        headers=auth(key))
        yield tc, key, user.json()["id"], group.json()["id"]
    app.state.ctx.db.dispose()
    dep.db.dispose()


def _check(resp: Any) -> None:
    assert resp.status_code < 500, resp.text
    if resp.status_code >= 400:
        assert resp.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(operations, min_size=1, max_size=3), on_group=st.booleans())
def test_random_patches_never_5xx_and_rejections_write_nothing(env, ops, on_group):  # type: ignore[no-untyped-def]
    client, key, user_id, group_id = env
    url = f"/scim/v2/Groups/{group_id}" if on_group else f"/scim/v2/Users/{user_id}"
    before = client.get(url, headers=auth(key)).json()
    resp = client.patch(url, json={"schemas": [PATCH], "Operations": ops}, headers=auth(key))
    _check(resp)
    if resp.status_code >= 400:
        assert client.get(url, headers=auth(key)).json() == before


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(extra=st.dictionaries(st.sampled_from(NAMES), values, max_size=4))
def test_random_bodies_never_5xx(env, extra):  # type: ignore[no-untyped-def]
    client, key, user_id, _ = env
    body = {**user_body("fuzz@example.com"), **extra}
    _check(client.put(f"/scim/v2/Users/{user_id}", json=body, headers=auth(key)))
    _check(client.post("/scim/v2/Users", json=body, headers=auth(key)))
