"""The request facts an audit event records (issue 5 point 1: source IP, user agent,
request id), read straight from the ASGI scope by ``web.audit.request_info`` for speed
(docs/performance.md, auditinit). They must be what Starlette's ``request.client`` and
``request.headers`` give: the first User-Agent, cut to 512 characters, empty as None."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from ostiary.audit.events import RequestInfo
from ostiary.web.audit import request_info


def through_starlette(request: Request) -> RequestInfo:
    """The facts as ``request_info`` read them before (main 15302c2)."""
    return RequestInfo(
        source_ip=request.client.host if request.client else None,
        user_agent=(request.headers.get("user-agent") or "")[:512] or None,
        request_id=request.scope.get("state", {}).get("request_id"),
    )


names = st.sampled_from([b"user-agent", b"authorization", b"x-forwarded-for", b"accept"])
values = st.binary(max_size=4) | st.binary(min_size=500, max_size=600) | st.just(b"\xe9t\xe9")
scopes = st.fixed_dictionaries(
    {"type": st.just("http"), "headers": st.lists(st.tuples(names, values), max_size=4)},
    optional={
        "client": st.none() | st.tuples(st.sampled_from(["10.0.0.1", "::1"]), st.integers(1, 9)),
        "state": st.dictionaries(st.sampled_from(["request_id", "other"]), st.text(max_size=4)),
    },
)


@given(scopes)
def test_same_facts_as_through_starlette(scope: dict[str, Any]) -> None:
    got, want = request_info(Request(scope)), through_starlette(Request(scope))
    assert got == want
    # Built without RequestInfo.__init__: the instance holds exactly the fields, in
    # order, and stays frozen.
    assert list(vars(got)) == [f.name for f in dataclasses.fields(RequestInfo)]
    assert vars(got) == vars(want)
    with pytest.raises(dataclasses.FrozenInstanceError):
        got.source_ip = "x"  # type: ignore[misc]


def test_first_user_agent_cut_to_512() -> None:
    scope = {
        "type": "http",
        "headers": [(b"user-agent", b"a" * 600), (b"user-agent", b"second")],
        "client": ("192.0.2.7", 443),
        "state": {"request_id": "r1"},
    }
    assert request_info(Request(scope)) == RequestInfo("192.0.2.7", "a" * 512, "r1")
    assert request_info(Request({"type": "http", "headers": []})) == RequestInfo()
