"""GET /health: 200 while the database answers, 503 (JSON, Retry-After) when it does not."""

from __future__ import annotations

import dataclasses

import httpx

from onevault import __version__
from onevault.auth.tokens import TokenConfig, issue_token
from onevault.db.roles import app_conninfo
from onevault.runtime import Runtime
from tests.conftest import RunningService, free_port


def test_health_is_200_with_the_database_up(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_health_is_503_and_ingest_is_503_without_the_database(runtime: Runtime) -> None:
    dead = f"host=127.0.0.1 port={free_port()} dbname=nothing user=nobody connect_timeout=1"
    broken = dataclasses.replace(runtime, admin_url=dead, app_url=app_conninfo(dead, "x"))
    with RunningService(broken) as svc, httpx.Client(base_url=svc.url, timeout=20) as http:
        response = http.get("/health")
        assert response.status_code == 503
        assert response.json() == {"status": "unavailable", "database": "unreachable", "version": __version__}
        assert response.headers["retry-after"] == "1"
        token = issue_token(TokenConfig(runtime.jwt_secret, "onevault", "onevault-api"), "acme", 60)
        ingest = http.post(
            "/api/v1/track/async",
            json={"event_type": "x", "page_url": "https://e.com"},
            headers={"Authorization": f"Bearer {token}", "X-Customer-ID": "acme"},
        )
        assert ingest.status_code == 503
        assert ingest.json()["error"] == "database_unavailable"


def test_unknown_route_is_json_404(client: httpx.Client) -> None:
    response = client.get("/nope")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


def test_interactive_docs_are_on_in_development(client: httpx.Client) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    assert "/api/v1/track/async" in spec["paths"]


def test_every_response_carries_security_headers(client: httpx.Client) -> None:
    for response in (client.get("/health"), client.get("/nope"), client.post("/api/v1/track/async", json={})):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    docs = client.get("/docs")
    assert docs.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in docs.headers  # the docs page loads its own assets


def test_interactive_docs_are_off_in_production(runtime: Runtime) -> None:
    production = dataclasses.replace(runtime, settings=runtime.settings.model_copy(update={"env": "production"}))
    with RunningService(production) as svc, httpx.Client(base_url=svc.url, timeout=10) as http:
        assert http.get("/docs").status_code == 404
        assert http.get("/health").status_code == 200
