"""Health, readiness, metrics and request ids."""

from __future__ import annotations

from starlette.testclient import TestClient


def test_healthz_and_readyz(client: TestClient):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_request_id_is_generated_or_honoured(client: TestClient):
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["x-request-id"]
        == "abc-123"
    )
    # A hostile id (log injection) is replaced, not echoed.
    assert (
        client.get("/healthz", headers={"X-Request-ID": "a\tb"}).headers["x-request-id"] != "a\tb"
    )


def test_metrics_count_requests_per_route_template(client: TestClient):
    client.get("/scim/v2/Users/abc")
    client.get("/scim/v2/Users/def")
    text = client.get("/metrics").text
    assert (
        'ostiary_http_requests_total{method="GET",route="/scim/v2/Users/{id}",status="401"} 2.0'
        in text
    )
    assert "ostiary_http_request_duration_seconds_bucket" in text
    assert 'ostiary_outbox_messages{status="dead"} 0.0' in text


def test_unknown_scim_path_is_a_scim_404(client: TestClient):
    resp = client.get("/scim/v2/Nope")
    assert resp.status_code == 404
    assert resp.json()["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:Error"]


def test_openapi_document_is_served(client: TestClient):
    assert client.get("/api/openapi.json").json()["info"]["title"] == "Ostiary admin API"


def test_api_docs_use_no_external_assets(client: TestClient):
    """A self-hosted IdP must work offline: the docs page loads only local scripts."""
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    assert client.get("/api/docs/static/swagger-ui-bundle.js").status_code == 200
