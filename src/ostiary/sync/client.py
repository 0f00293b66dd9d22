"""A well-behaved SCIM 2.0 client (RFC 7644) over httpx.

- 429 and 503 wait for ``Retry-After`` (seconds or an HTTP date); the RateLimit headers
  (``RateLimit-Remaining``/``-Reset``, the structured ``RateLimit`` field, ``X-RateLimit-*``)
  pause every worker before the limit is hit rather than after.
- 5xx, timeouts and connection errors retry with exponential backoff and full jitter.
- Features come from ``/ServiceProviderConfig`` (RFC 7644 s4): PATCH, Bulk, ETags, filter.
The client is thread-safe; :mod:`ostiary.sync.apply` bounds the concurrency.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import orjson

from ostiary.scim import schemas
from ostiary.sync.errors import AuthError, TargetError
from ostiary.sync.transport import LeanTransport

RETRYABLE = {500, 502, 503, 504}
# ids per "id eq ... or id eq ..." filter: ~46 characters each, inside the 4,096-character
# filters servers commonly cap (Ostiary among them).
IDS_PER_FILTER = 50
MAX_WAIT = 300.0
_RAND = secrets.SystemRandom()


@dataclass(frozen=True)
class Features:
    patch: bool = False
    bulk: bool = False
    bulk_max_operations: int = 0
    bulk_max_payload: int = 0
    etag: bool = False
    filter: bool = False
    max_results: int = 0

    @classmethod
    def from_config(cls, doc: dict[str, Any]) -> Features:
        def on(name: str) -> bool:
            part = doc.get(name)
            return isinstance(part, dict) and part.get("supported") is True

        bulk = doc.get("bulk") or {}
        return cls(
            patch=on("patch"),
            bulk=on("bulk") and int(bulk.get("maxOperations") or 0) > 0,
            bulk_max_operations=int(bulk.get("maxOperations") or 0),
            bulk_max_payload=int(bulk.get("maxPayloadSize") or 0),
            etag=on("etag"),
            filter=on("filter"),
            max_results=int((doc.get("filter") or {}).get("maxResults") or 0),
        )


def retry_after(resp: httpx.Response, now: float | None = None) -> float | None:
    """Seconds to wait from ``Retry-After`` (RFC 9110 s10.2.3): delta-seconds or a date."""
    value = resp.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return None
    return max(0.0, when - (now if now is not None else time.time()))


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_RATELIMIT_NAMES = frozenset({"ratelimit-remaining", "ratelimit", "x-ratelimit-remaining"})


def ratelimit_pause(resp: httpx.Response) -> float | None:
    """Seconds until the quota resets when the RateLimit headers say none is left."""
    h = resp.headers
    if h.keys().isdisjoint(_RATELIMIT_NAMES):
        return None  # one pass over the fields instead of one per name looked up
    remaining, reset = h.get("ratelimit-remaining"), h.get("ratelimit-reset")
    if remaining is None and "ratelimit" in h:
        # draft-ietf-httpapi-ratelimit-headers: "limit=10, remaining=0, reset=5" or
        # the structured-field form '"default";r=0;t=5'.
        field = h["ratelimit"]
        r = re.search(r"(?:remaining=|\br=)(\d+)", field)
        t = re.search(r"(?:reset=|\bt=)(\d+)", field)
        remaining, reset = (r.group(1) if r else None), (t.group(1) if t else None)
    if remaining is None:
        remaining, reset = h.get("x-ratelimit-remaining"), h.get("x-ratelimit-reset")
    if remaining is None or not remaining.strip().isdigit() or int(remaining) > 0:
        return None
    try:
        seconds = float(reset or 1)
    except ValueError:
        return 1.0
    # X-RateLimit-Reset is often an epoch timestamp rather than a delta.
    return max(0.0, seconds - time.time()) if seconds > 1e9 else seconds


def backoff(attempt: int, base: float = 0.25, cap: float = 20.0) -> float:
    """Full jitter: uniform(0, min(cap, base * 2^attempt)) spreads retrying workers apart."""
    return _RAND.uniform(0, min(cap, base * 2**attempt))


class _NoCookies(httpx.Cookies):
    """A cookie store that keeps nothing: SCIM authenticates every request itself (bearer
    token, mTLS), and httpx's cookie parsing of each response (http.cookiejar through
    email.message, ~14 header copies) was the largest Python cost of one create."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class _Client(httpx.Client):
    @property
    def cookies(self) -> httpx.Cookies:
        return _NO_COOKIES

    @cookies.setter
    def cookies(self, cookies: Any) -> None:
        return None  # httpx's constructor sets an empty store; we keep ours


_NO_COOKIES = _NoCookies()


class ScimClient:
    def __init__(
        self,
        base_url: str,
        *,
        auth: httpx.Auth | None = None,
        timeout: float = 30.0,
        max_retries: int = 6,
        pool: int = 8,
        transport: httpx.BaseTransport | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self._auth = auth
        self.max_retries = max_retries
        limits = httpx.Limits(max_connections=pool, max_keepalive_connections=pool)
        if transport is None and not urllib.request.getproxies():
            # httpx only routes through the environment's proxies with its own transport.
            transport = LeanTransport(limits=limits)
        self.http = _Client(
            base_url=self.base_url,
            auth=auth,
            timeout=timeout,
            limits=limits,
            headers={"Accept": f"{schemas.CONTENT_TYPE}, application/json"},
            transport=transport,
        )
        self._urls: dict[str, httpx.URL] = {}
        self._netloc = httpx.URL(self.base_url).netloc
        self._headers: httpx.Headers | None = None  # the client's, with Host (_build)
        self._pause_until = 0.0
        self._lock = threading.Lock()
        self._features: Features | None = None
        self.stats = {"requests": 0, "retries": 0, "throttled": 0}

    def close(self) -> None:
        self.http.close()
        close = getattr(self._auth, "close", None)
        if close is not None:
            close()  # a token client holds its own connections

    # --- transport with retries -------------------------------------------------------

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of ``path``. httpx would parse the relative path, then the
        merged one, for every request; one request per change sends 100,000 POSTs to the
        same "/Users". Endpoints ("/Users", "/Bulk") are kept; a resource's path is parsed
        once."""
        url = self._urls.get(path)
        if url is None:
            url = httpx.URL(f"{self.base_url}/{path.lstrip('/')}")
            if path.count("/") <= 1:
                self._urls[path] = url
        return url

    def _build(
        self,
        method: str,
        url: httpx.URL,
        content: bytes | None,
        headers: dict[str, str] | None,
        params: dict[str, Any] | None,
    ) -> httpx.Request:
        """The request ``httpx.Client.build_request`` would make, for a third of the
        instructions: it copied the client's headers into new Headers three times,
        normalising every name and value each time, then looked each automatic header up
        by a scan of the list (~134,000 instructions a request). Here the client's headers
        and ``Host`` are merged once (the client has no cookies, ``_NoCookies``, and no
        default params; ``send`` sets the timeout) and each request copies that list and
        adds its own, the same fields httpx would send."""
        if self._headers is None:
            base = httpx.Headers({"Host": self._netloc.decode("ascii")})
            base.update(self.http.headers)
            self._headers = base
        hdrs = httpx.Headers(self._headers)
        if content is not None:
            hdrs["Content-Type"] = schemas.CONTENT_TYPE
        if headers:
            hdrs.update(headers)
        if content is not None or method in _BODY_METHODS:
            hdrs["Content-Length"] = str(len(content or b""))  # as httpx: 0 on a bare POST
        if params:
            url = url.copy_merge_params(params)
        return httpx.Request(method, url, headers=hdrs, stream=httpx.ByteStream(content or b""))

    def _wait_for_quota(self) -> None:
        with self._lock:
            delay = self._pause_until - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def _pause(self, seconds: float) -> None:
        with self._lock:
            self._pause_until = max(self._pause_until, time.monotonic() + min(seconds, MAX_WAIT))

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        content = None
        if body is not None:
            content = orjson.dumps(body)  # a Bulk batch or a page: several times json's speed
        url = self._url(path)
        for attempt in range(self.max_retries + 1):
            self._wait_for_quota()
            self.stats["requests"] += 1
            try:
                resp = self.http.send(self._build(method, url, content, headers, params))
            except httpx.TransportError as exc:  # timeouts, refused/reset connections
                if attempt == self.max_retries:
                    raise TargetError(
                        f"{method} {path}: {type(exc).__name__} after retries"
                    ) from exc
                self.stats["retries"] += 1
                time.sleep(backoff(attempt))
                continue
            pause = ratelimit_pause(resp)
            if pause:
                self._pause(pause)
            if resp.status_code == 429 or (
                resp.status_code in RETRYABLE and attempt < self.max_retries
            ):
                if attempt == self.max_retries:
                    return resp
                wait = retry_after(resp)
                if resp.status_code == 429:
                    self.stats["throttled"] += 1
                    self._pause(wait if wait is not None else backoff(attempt, base=1.0))
                else:
                    self.stats["retries"] += 1
                    time.sleep(min(wait, MAX_WAIT) if wait is not None else backoff(attempt))
                continue
            return resp
        raise AssertionError("unreachable")  # pragma: no cover

    def call(
        self, method: str, path: str, *, ok: tuple[int, ...] = (200, 201, 204), **kw: Any
    ) -> Any:
        resp = self.request(method, path, **kw)
        if resp.status_code not in ok:
            raise error_for(method, path, resp)
        if resp.status_code == 204 or not resp.content:
            return None
        # A re-sync parses every listed user: orjson takes a fraction of json's time.
        return orjson.loads(resp.content)

    # --- SCIM operations --------------------------------------------------------------

    def features(self) -> Features:
        if self._features is None:
            resp = self.request("GET", "/ServiceProviderConfig")
            if resp.status_code in (401, 403, 429) or resp.status_code >= 500:
                # An outage is not "no features": never cache what a 503 did not say.
                raise error_for("GET", "/ServiceProviderConfig", resp)
            # No discovery document: assume the RFC's mandatory minimum (POST/PUT/GET/DELETE).
            doc = resp.json() if resp.status_code == 200 else {}
            self._features = Features.from_config(doc if isinstance(doc, dict) else {})
        return self._features

    def list_all(
        self,
        resource: str,
        page: int = 1000,
        workers: int = 1,
        attributes: tuple[str, ...] = (),
    ) -> list[dict[str, Any]]:
        """Every resource, paging with startIndex/count (RFC 7644 s3.4.2.4). The first page
        gives totalResults; with ``workers`` > 1 the other pages are fetched concurrently
        (a server with several workers serves them in parallel). Ids seen twice (the
        directory changed while we paged) are kept once. ``attributes`` (s3.4.2.5) asks
        for just what the caller reads; a server may send more."""
        limit = self.features().max_results
        count = min(page, limit) if limit else page
        extra = {"attributes": ",".join(attributes)} if attributes else {}

        def fetch(start: int) -> dict[str, Any]:
            return self._page(resource, {"startIndex": start, "count": count, **extra})

        first = fetch(1)
        out = list(first.get("Resources") or [])
        total = int(first.get("totalResults") or 0)
        step = len(out)  # the server may return fewer than asked for
        if step and workers > 1 and total > step:
            starts = range(1 + step, total + 1, step)
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="page") as pool:
                for doc in pool.map(fetch, starts):
                    out.extend(doc.get("Resources") or [])
        # Sequentially from where we are: all of it with one worker, and whatever was
        # added meanwhile with several.
        while step and len(out) < total:
            items = fetch(1 + len(out)).get("Resources") or []
            if not items:
                break
            out.extend(items)
        return list({r.get("id", n): r for n, r in enumerate(out)}.values())

    def _page(self, resource: str, params: dict[str, Any]) -> dict[str, Any]:
        doc = self.call("GET", f"/{resource}", params=params)
        return doc if isinstance(doc, dict) else {}

    def fetch_ids(
        self, resource: str, ids: list[str], workers: int = 1, attributes: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """The resources with these ids: ``id eq`` filters joined by ``or`` (RFC 7644
        s3.4.2.2), IDS_PER_FILTER at a time, or one GET each where filtering is not offered."""
        extra = {"attributes": ",".join(attributes)} if attributes else {}
        if not self.features().filter:

            def one(rid: str) -> list[dict[str, Any]]:
                resp = self.request("GET", f"/{resource}/{rid}", params=extra)
                if resp.status_code == 404:
                    return []  # deleted since it was listed
                if resp.status_code != 200:
                    raise error_for("GET", f"/{resource}/{rid}", resp)
                return [orjson.loads(resp.content)]

            jobs: list[Any] = [lambda rid=rid: one(rid) for rid in ids]
        else:
            chunks = [ids[i : i + IDS_PER_FILTER] for i in range(0, len(ids), IDS_PER_FILTER)]

            def some(chunk: list[str]) -> list[dict[str, Any]]:
                text = " or ".join(f"id eq {json.dumps(i)}" for i in chunk)
                params = {"filter": text, "count": len(chunk), **extra}
                return list(self._page(resource, params).get("Resources") or [])

            jobs = [lambda chunk=chunk: some(chunk) for chunk in chunks]
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fetch") as pool:
            return [r for found in pool.map(lambda job: job(), jobs) for r in found]

    def find(self, resource: str, attribute: str, value: str) -> dict[str, Any] | None:
        # RFC 7644 s3.4.2.2: the comparison value is a JSON string literal.
        found = self.call(
            "GET", f"/{resource}", params={"filter": f"{attribute} eq {json.dumps(value)}"}
        )
        items = found.get("Resources") or []
        return items[0] if items else None

    def if_match(self, version: str | None) -> dict[str, str]:
        return {"If-Match": version} if version and self.features().etag else {}

    def bulk(self, operations: list[dict[str, Any]]) -> list[dict[str, Any]]:
        body = {
            "schemas": [schemas.BULK_REQUEST],
            "failOnErrors": len(operations) + 1,
            "Operations": operations,
        }
        doc = self.call("POST", "/Bulk", body=body)
        return list(doc.get("Operations") or [])


def error_for(method: str, path: str, resp: httpx.Response) -> TargetError:
    try:
        body = resp.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    message = f"{method} {path}: HTTP {resp.status_code}" + (f": {detail}" if detail else "")
    cls = AuthError if resp.status_code in (401, 403) else TargetError
    return cls(message, status=resp.status_code, body=body)
