"""A well-behaved client: 429 + Retry-After (RFC 6585 s4, RFC 9110 s10.2.3), the RateLimit
headers (draft-ietf-httpapi-ratelimit-headers), 5xx retried with backoff, features from
/ServiceProviderConfig (RFC 7644 s4)."""

from __future__ import annotations

import time
from email.utils import formatdate

import httpx
import pytest

from ostiary.scim import schemas
from ostiary.sync.auth import BearerAuth
from ostiary.sync.client import ScimClient, backoff, ratelimit_pause, retry_after
from ostiary.sync.errors import TargetError
from tests.sync.gateway import Behaviour, Gateway
from tests.sync.scimserver import TOKEN, scim2_server


@pytest.fixture
def upstream(tmp_path):
    with scim2_server(tmp_path) as url:
        yield url.removesuffix("/v2")


def _client(gw: Gateway, **kw) -> ScimClient:
    return ScimClient(gw.scim_url, auth=BearerAuth("ignored-by-gateway"), **kw)


def test_429_waits_for_retry_after_then_succeeds(upstream):
    """Two 429s with Retry-After: 1 -> the request succeeds after at least two seconds."""
    with Gateway(upstream, Behaviour(throttle=2, upstream_token=TOKEN)) as gw:
        client = _client(gw)
        try:
            start = time.monotonic()
            assert client.call("GET", "/Users")["totalResults"] == 0
            assert time.monotonic() - start >= 2.0
            assert client.stats["throttled"] == 2
            times = [t for *_, t in gw.requests("GET")]
            assert times[1] - times[0] >= 0.95 and times[2] - times[1] >= 0.95
        finally:
            client.close()


def test_5xx_is_retried_with_backoff(upstream):
    with Gateway(upstream, Behaviour(fail=3, upstream_token=TOKEN)) as gw:
        client = _client(gw)
        try:
            assert client.call("GET", "/Users")["totalResults"] == 0
            assert client.stats["retries"] == 3 and len(gw.requests("GET")) == 4
        finally:
            client.close()


def test_gives_up_after_max_retries(upstream):
    with Gateway(upstream, Behaviour(fail=10, upstream_token=TOKEN)) as gw:
        client = _client(gw, max_retries=2)
        try:
            with pytest.raises(TargetError, match="HTTP 503"):
                client.call("GET", "/Users")
            assert len(gw.requests("GET")) == 3
        finally:
            client.close()


def test_ratelimit_remaining_zero_pauses_the_next_request(upstream):
    """A response saying remaining=0, reset=1 holds the next request for about a second."""
    with Gateway(upstream, Behaviour(ratelimit_zero=1, upstream_token=TOKEN)) as gw:
        client = _client(gw)
        try:
            client.call("GET", "/Users")
            client.call("GET", "/Users")
            first, second = (t for *_, t in gw.requests("GET"))
            assert second - first >= 0.9
        finally:
            client.close()


def test_connection_refused_is_retried_then_reported():
    from tests.support.server import free_port

    client = ScimClient(f"http://127.0.0.1:{free_port()}/v2", max_retries=1, timeout=1)
    try:
        with pytest.raises(TargetError, match="ConnectError after retries"):
            client.call("GET", "/Users")
    finally:
        client.close()


def test_header_parsing():
    """Retry-After as delta-seconds and as an HTTP date; the three RateLimit spellings."""

    def resp(**h: str) -> httpx.Response:
        return httpx.Response(429, headers={k.replace("_", "-"): v for k, v in h.items()})

    assert retry_after(resp(Retry_After="7")) == 7
    now = time.time()
    assert 29 <= retry_after(resp(Retry_After=formatdate(now + 30, usegmt=True)), now) <= 30
    assert retry_after(resp(Retry_After="soon")) is None
    assert ratelimit_pause(resp(RateLimit_Remaining="0", RateLimit_Reset="4")) == 4
    assert ratelimit_pause(resp(RateLimit_Remaining="3", RateLimit_Reset="4")) is None
    assert ratelimit_pause(resp(RateLimit='"default";r=0;t=9')) == 9
    assert ratelimit_pause(resp(RateLimit="limit=10, remaining=0, reset=2")) == 2
    assert (
        9
        <= ratelimit_pause(resp(X_RateLimit_Remaining="0", X_RateLimit_Reset=str(int(now) + 10)))
        <= 10
    )
    samples = [backoff(4) for _ in range(200)]
    assert all(0 <= s <= 4.0 for s in samples) and len(set(samples)) > 150  # jittered


def test_features_from_service_provider_config(tmp_path):
    with scim2_server(
        tmp_path,
        patch={"supported": False},
        bulk={"supported": True, "maxOperations": 7, "maxPayloadSize": 100},
    ) as url:
        client = ScimClient(url, auth=BearerAuth(TOKEN))
        try:
            f = client.features()
            assert (f.patch, f.bulk, f.bulk_max_operations, f.etag) == (False, True, 7, True)
        finally:
            client.close()


@pytest.mark.parametrize("workers", [1, 4])
def test_list_all_pages_by_start_index_sequentially_or_concurrently(tmp_path, workers):
    """RFC 7644 s3.4.2.4: startIndex/count paging within filter.maxResults; with several
    workers the pages after the first are fetched concurrently; nothing is lost or doubled."""
    with scim2_server(tmp_path, filter={"supported": True, "maxResults": 7}) as url:
        for n in range(30):
            httpx.post(
                f"{url}/Users",
                json={"schemas": [schemas.USER], "userName": f"p{n}@example.com"},
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
        with Gateway(url.removesuffix("/v2"), Behaviour(upstream_token=TOKEN)) as gw:
            client = _client(gw)
            try:
                users = client.list_all("Users", workers=workers)
            finally:
                client.close()
        names = sorted(u["userName"] for u in users)
        assert names == sorted(f"p{n}@example.com" for n in range(30))
        starts = sorted(
            int(path.split("startIndex=")[1].split("&")[0])
            for _, path, _, _ in gw.requests("GET")
            if "startIndex=" in path
        )
        assert starts == [1, 8, 15, 22, 29]  # five pages of at most 7


def test_set_cookie_is_neither_kept_nor_sent_back():
    """RFC 7644 s2: each SCIM request authenticates itself, so the client keeps no cookies
    (parsing them was the largest Python cost of a create, docs/performance.md)."""
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, json={}, headers={"Set-Cookie": "s=1; Path=/"})

    client = ScimClient("http://scim.test/v2", transport=httpx.MockTransport(handler))
    try:
        client.call("GET", "/Users")
        client.call("GET", "/Users")
    finally:
        client.close()
    assert seen == [None, None]
    assert len(client.http.cookies) == 0
