"""The sync agent's lean HTTP/1.1 transport (issue 8 point 8: one request per change cost
the agent ~1.6 M instructions a create under httpcore + h11), against a real server on a
socket: message framing per RFC 9112 s6.3 (Content-Length, chunked s7.1, close-delimited),
keep-alive and Connection: close (s9.3, s9.6), 1xx interim responses (RFC 9110 s15.2),
timeouts and errors as httpx's exceptions, TLS, and the fallback to httpx's transport."""

from __future__ import annotations

import ssl
import time

import httpx
import pytest

from ostiary.sync.auth import BearerAuth
from ostiary.sync.client import ScimClient
from ostiary.sync.transport import LeanTransport
from tests.support.server import free_port
from tests.support.tls import self_signed
from tests.sync.rawserver import RawServer, response

JSON = "Content-Type: application/json"


def _client(server: RawServer, **kw) -> httpx.Client:
    timeout = kw.pop("timeout", 5.0)
    return httpx.Client(base_url=server.url, transport=LeanTransport(**kw), timeout=timeout)


def test_content_length_bodies_share_one_keep_alive_connection():
    def reply(n, head, body):
        return response(
            "201 Created", b'{"echo":' + body + b"}", JSON, f"Content-Length: {9 + len(body)}"
        ), False

    with RawServer(reply) as server, _client(server) as client:
        for i in range(3):
            resp = client.post("/Users", content=b'"%d"' % i, headers={"X-N": str(i)})
            assert resp.status_code == 201 and resp.json() == {"echo": str(i)}
            assert resp.reason_phrase == "Created" and resp.http_version == "HTTP/1.1"
    assert server.connections == 1
    _, head, body = server.seen[2]
    assert head.startswith(b"POST /Users HTTP/1.1\r\n") and b"\r\nX-N: 2" in head
    assert b"\r\nContent-Length: 3" in head and body == b'"2"'


def test_chunked_response_with_extensions_and_trailers():
    chunked = b'4;ext=1\r\n{"a"\r\n5\r\n: 12}\r\n0\r\nX-Trailer: t\r\n\r\n'

    def reply(n, head, body):
        return response("200 OK", chunked, JSON, "Transfer-Encoding: chunked"), False

    with RawServer(reply) as server, _client(server) as client:
        assert client.get("/a").json() == {"a": 12}
        assert client.get("/b").json() == {"a": 12}  # the connection was left clean
    assert server.connections == 1


def test_close_delimited_body_and_connection_close_open_new_connections():
    def reply(n, head, body):
        if b"/eof" in head:  # no framing: the body runs to the close (RFC 9112 s6.3 item 8)
            return response("200 OK", b"to the end", "Connection: close"), True
        return response("200 OK", b"ok", "Content-Length: 2", "Connection: close"), True

    with RawServer(reply) as server, _client(server) as client:
        assert client.get("/eof").content == b"to the end"
        assert client.get("/cl").content == b"ok"
        assert client.get("/cl").content == b"ok"
    assert server.connections == 3


def test_head_204_and_304_have_no_body_even_with_content_length():
    def reply(n, head, body):
        if head.startswith(b"HEAD"):
            return response("200 OK", b"", "Content-Length: 50"), False
        if b"/304" in head:
            return response("304 Not Modified", b"", "Content-Length: 50"), False
        return response("204 No Content"), False

    with RawServer(reply) as server, _client(server) as client:
        assert client.head("/x").content == b""
        assert client.delete("/x").status_code == 204
        assert client.get("/304").status_code == 304
        assert client.head("/x").headers["content-length"] == "50"
    assert server.connections == 1


def test_interim_1xx_responses_are_skipped():
    def reply(n, head, body):
        return response("103 Early Hints", b"", "Link: </a>") + response(
            "200 OK", b"final", "Content-Length: 5"
        ), False

    with RawServer(reply) as server, _client(server) as client:
        resp = client.get("/")
        assert resp.status_code == 200 and resp.content == b"final"
        assert "link" not in resp.headers


def test_an_idle_connection_the_server_closed_is_not_reused():
    def reply(n, head, body):
        # Keep-alive announced, then closed (a server's idle timeout).
        return response("200 OK", b"ok", "Content-Length: 2"), True

    with RawServer(reply) as server, _client(server) as client:
        assert client.get("/1").content == b"ok"
        time.sleep(0.2)  # the close reaches the client
        assert client.get("/2").content == b"ok"
    assert server.connections == 2


def test_idle_connections_expire():
    def reply(n, head, body):
        return response("200 OK", b"ok", "Content-Length: 2"), False

    limits = httpx.Limits(max_connections=2, keepalive_expiry=0.1)
    with RawServer(reply) as server, _client(server, limits=limits) as client:
        client.get("/1")
        time.sleep(0.3)
        client.get("/2")
    assert server.connections == 2


def test_gzip_content_is_decoded_by_httpx():
    import gzip

    data = gzip.compress(b'{"a": 1}')

    def reply(n, head, body):
        assert b"gzip" in head.lower()
        return response(
            "200 OK", data, "Content-Encoding: gzip", f"Content-Length: {len(data)}"
        ), False

    with RawServer(reply) as server, _client(server) as client:
        assert client.get("/").json() == {"a": 1}


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "complete message body"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc", "Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nab", "Content-Length"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "status line"),
        (b"SIP/2.0 200 OK\r\n\r\n", "status line"),
        (b"HTTP/1.1 200 OK\r\nbad header\r\n\r\n", "header"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", "CRLF"),
        (b"", "without sending a response"),
        (b"HTTP/1.1 200 OK\r\nContent-", "response head"),
    ],
)
def test_malformed_or_truncated_responses_raise_remote_protocol_error(raw, match):
    with (
        RawServer(lambda n, head, body: (raw, True)) as server,
        _client(server) as client,
        pytest.raises(httpx.RemoteProtocolError, match=match),
    ):
        client.get("/")


def test_header_injection_is_refused_before_sending():
    ok = response("200 OK", b"", "Content-Length: 0")
    with RawServer(lambda n, h, b: (ok, False)) as server:
        with _client(server) as client, pytest.raises(httpx.LocalProtocolError):
            client.get("/", headers={"X-A": "v\r\nX-Injected: 1"})
        assert server.seen == []


def test_read_timeout_and_connect_error_are_httpx_transport_errors():
    def reply(n, head, body):
        time.sleep(1.0)
        return response("200 OK", b"", "Content-Length: 0"), False

    with (
        RawServer(reply) as server,
        _client(server, timeout=0.2) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.get("/")
    with (
        httpx.Client(transport=LeanTransport(), timeout=2) as client,
        pytest.raises(httpx.ConnectError),
    ):
        client.get(f"http://127.0.0.1:{free_port()}/")


def test_pool_timeout_when_every_connection_is_busy():
    import threading

    def reply(n, head, body):
        time.sleep(0.6)
        return response("200 OK", b"", "Content-Length: 0"), False

    limits = httpx.Limits(max_connections=1)
    timeout = httpx.Timeout(5.0, pool=0.1)
    with RawServer(reply) as server, _client(server, limits=limits, timeout=timeout) as client:
        first = threading.Thread(target=client.get, args=("/slow",))
        first.start()
        time.sleep(0.2)
        with pytest.raises(httpx.PoolTimeout):
            client.get("/second")
        first.join()


def test_streamed_request_bodies_go_through_httpx_transport():
    def reply(n, head, body):
        return response("200 OK", body, f"Content-Length: {len(body)}"), False

    with RawServer(reply) as server, _client(server) as client:
        resp = client.post("/", content=iter([b"ab", b"cd"]))
        assert resp.content == b"abcd"
    assert b"transfer-encoding: chunked" in server.seen[0][1].lower()


def _tls(tmp_path):
    server, cert = self_signed(tmp_path)
    return server, str(cert)


def test_tls_verified_against_the_given_ca_and_refused_otherwise(tmp_path):
    context, ca = _tls(tmp_path)

    def reply(n, head, body):
        return response("200 OK", b"secure", "Content-Length: 6"), False

    with RawServer(reply, context=context) as server:
        trusted = ssl.create_default_context(cafile=ca)
        with _client(server, verify=trusted) as client:
            assert client.get("/").content == b"secure"
            assert client.get("/").content == b"secure"
        assert server.connections == 1
        with (
            _client(server) as client,  # the system's CAs do not know it
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            client.get("/")


def test_scim_client_uses_it_unless_a_proxy_is_configured(monkeypatch):
    client = ScimClient("http://scim.test/v2")
    assert isinstance(client.http._transport, LeanTransport)
    client.close()
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.test:3128")
    client = ScimClient("https://scim.test/v2")
    try:
        assert not isinstance(client.http._transport, LeanTransport)
        assert any(t is not None for t in client.http._mounts.values())  # httpx's proxy
    finally:
        client.close()


@pytest.mark.parametrize(
    ("method", "content", "headers", "params"),
    [
        ("POST", b'{"userName": "a"}', None, None),
        ("POST", None, None, None),  # httpx sends Content-Length: 0
        ("PATCH", b"{}", {"If-Match": 'W/"3"'}, None),
        ("GET", None, None, {"filter": 'userName eq "a b"', "count": 5}),
        ("DELETE", None, {"If-Match": 'W/"4"'}, None),
    ],
)
def test_scim_client_requests_are_those_httpx_would_build(method, content, headers, params):
    """ScimClient._build skips httpx's build_request (~134,000 instructions a request);
    the URL, every header field and the body must stay what httpx would have sent."""
    client = ScimClient("http://127.0.0.1:8123/scim/v2", auth=BearerAuth("t"))
    try:
        url = client._url("/Users")
        ours = client._build(method, url, content, headers, params)
        expected = {"Content-Type": "application/scim+json"} if content is not None else {}
        theirs = client.http.build_request(
            method, url, content=content, headers={**expected, **(headers or {})}, params=params
        )
        assert ours.url == theirs.url and ours.method == theirs.method
        assert sorted(ours.headers.multi_items()) == sorted(theirs.headers.multi_items())
        assert ours.read() == theirs.read()
    finally:
        client.close()
