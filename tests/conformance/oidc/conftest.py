"""Fixtures for the OpenID conformance mirror: one served Ostiary per profile, shared by
its modules (a server start costs about a second; a module a few hundred milliseconds).

Each test carries ``@module("oidcc-...")`` naming the suite module it mirrors; collection
fails if a test lacks it, if a name repeats, or if the test is not named after it, so
``-k oidcc-codereuse`` selects a module by its suite name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conformance.oidc.harness import (
    OP,
    Browser,
    Client,
    RelyingParty,
    reuse_code,
    serve_op,
)
from tests.conformance.oidc.logout import SignedIn, signed_in

PROFILE = {
    "displayName": "Ada Lovelace",
    "name": {"givenName": "Ada", "familyName": "Lovelace", "middleName": "King"},
    "nickName": "ada",
    "profileUrl": "https://example.com/ada",
    "photos": [{"value": "https://example.com/ada.png", "primary": True}],
    "locale": "en-GB",
    "timezone": "Europe/London",
    "phoneNumbers": [{"value": "+44 20 7946 0000", "primary": True}],
    "addresses": [
        {
            "streetAddress": "12 St James's Square",
            "locality": "London",
            "postalCode": "SW1Y 4LB",
            "country": "GB",
            "primary": True,
        }
    ],
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "module(name): the OpenID conformance-suite module")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    seen: dict[str, str] = {}
    here = Path(__file__).parent
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        marks = list(item.iter_markers("module"))
        if not marks:
            if item.name.startswith("test_readme"):
                continue
            raise pytest.UsageError(f"{item.nodeid}: no @module(...) marker")
        name = str(marks[0].args[0])
        if item.name != "test_" + name.replace("-", "_"):
            raise pytest.UsageError(f"{item.nodeid}: must be named after {name}")
        if name in seen:
            raise pytest.UsageError(f"{name}: mirrored twice ({seen[name]}, {item.nodeid})")
        seen[name] = item.nodeid
        item.extra_keyword_matches.add(name)


@pytest.fixture(scope="session")
def basic_op(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OP]:
    """The OP the Basic and Config profiles run against (dynamic registration on, as the
    suite's dynamic-client variants need it)."""
    tmp = tmp_path_factory.mktemp("basic-op")
    with serve_op(tmp, OSTIARY_DYNAMIC_REGISTRATION="true") as op:
        yield op


@pytest.fixture(scope="session")
def clients(basic_op: OP) -> dict[str, Client]:
    """The suite's ``client`` and ``client2`` (client_secret_basic) and a
    client_secret_post client; none is first-party, so the consent page is part of the flow."""
    return {
        "client": basic_op.client("client", first_party=False),
        "client2": basic_op.client("client2", first_party=False),
        "post": basic_op.client("client-post", auth_method="client_secret_post", first_party=False),
    }


@pytest.fixture
def user(basic_op: OP) -> tuple[str, str]:
    """A fresh user with every standard claim filled in; returns (id, userName)."""
    user_id, name = basic_op.user(emails=[{"value": "ada@example.com", "primary": True}], **PROFILE)
    return user_id, name


@pytest.fixture
def browser(basic_op: OP, user: tuple[str, str]) -> Iterator[Browser]:
    b = Browser(basic_op, user[1])
    yield b
    b.close()


@pytest.fixture
def rp_factory(basic_op: OP, clients: dict[str, Client]) -> Iterator[Any]:
    made: list[RelyingParty] = []

    def make(scope: str = "openid", client: str = "client", **kwargs: Any) -> RelyingParty:
        rp = RelyingParty(basic_op, clients[client], scope=scope, **kwargs)
        made.append(rp)
        return rp

    yield make
    for rp in made:
        rp.close()


@pytest.fixture
def rp(rp_factory: Any) -> RelyingParty:
    return rp_factory()


@pytest.fixture(scope="session")
def reused_after_30s(basic_op: OP, clients: dict[str, Client]) -> Iterator[Future]:
    """oidcc-codereuse-30seconds redeems a code, waits a real 30 seconds and redeems it
    again. The Basic modules all request this fixture (``pytestmark``), so the wait runs
    in a background thread, with its own user agent and client, while they run; the
    module's test then only collects the outcome (reuse_code's assertions included)."""
    _, name = basic_op.user()
    browser = Browser(basic_op, name)
    rp = RelyingParty(basic_op, clients["client"])

    def run() -> tuple[RelyingParty, dict[str, Any]]:
        return rp, reuse_code(rp, browser, wait=30)

    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(run)
    browser.close()
    rp.close()


@pytest.fixture
def logout_client(basic_op: OP, browser: Browser) -> Iterator[Callable[..., SignedIn]]:
    """A dynamically registered client (with a post_logout_redirect_uri, plus the given
    metadata) the user is signed in to, as the logout modules start."""
    made: list[SignedIn] = []

    def make(**metadata: Any) -> SignedIn:
        made.append(signed_in(basic_op, browser, **metadata))
        return made[-1]

    yield make
    for s in made:
        s.rp.close()
