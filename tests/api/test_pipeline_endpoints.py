"""POST /api/v1/track, GET /status, POST /process and GET /dashboard, each for the caller's tenant only."""

from __future__ import annotations

import httpx

from tests.conftest import Database

UA = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"}


def page_view(i: int, **extra: object) -> dict[str, object]:
    return {
        "page_url": f"https://example.com/p{i % 3}",
        "event_type": "page_view",
        "event_id": f"pv_{i}",
        "event_data": {"title": f"P{i}"},
        "visitor_id": "visitor_1",
        "session_id": "sess_1",
        **extra,
    }


def test_sync_track_completes_the_pipeline_before_answering(
    client: httpx.Client, make_tenant, database: Database
) -> None:
    acme = make_tenant("acme")
    response = client.post("/api/v1/track", json=page_view(1), headers={**acme.headers, **UA})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["processing_status"] == "completed"
    results = body["pipeline_results"]
    assert (results["raw_processed"], results["staging_processed"], results["business_processed"]) == (True,) * 3
    assert results["validation_status"] == "VALID"
    with database.admin() as conn:
        row = conn.execute(
            "SELECT h.site_event_bk, s.browser_name, s.device_type FROM business.site_event_h h "
            "JOIN business.site_event_details_s s USING (tenant_hk, site_event_hk)"
        ).fetchone()
    assert row == ("evt_pv_1", "Chrome", "desktop")


def test_sync_track_reports_an_invalid_event_with_its_reason(client: httpx.Client, make_tenant) -> None:
    acme = make_tenant("acme")
    body = page_view(2, page_url="javascript:alert(1)")
    results = client.post("/api/v1/track", json=body, headers={**acme.headers, **UA}).json()["pipeline_results"]
    assert (results["raw_processed"], results["staging_processed"], results["business_processed"]) == (
        True,
        True,
        False,
    )
    assert results["validation_status"] == "INVALID"
    assert "page_url_unparseable" in results["reason"]


def test_status_process_and_dashboard_see_the_callers_tenant_only(client: httpx.Client, make_tenant) -> None:
    acme, globex = make_tenant("acme"), make_tenant("globex")
    for i in range(6):
        client.post("/api/v1/track/async", json=page_view(i), headers={**acme.headers, **UA})
    for i in range(2):
        client.post("/api/v1/track/async", json=page_view(100 + i), headers={**globex.headers, **UA})

    status = client.get("/api/v1/track/status", headers=acme.headers).json()
    assert status["pipeline_status"]["raw_pending"] == 6
    assert {"staging_pending", "business_pending", "last_processed"} <= status["pipeline_status"].keys()
    assert len(status["recent_events"]) == 6
    assert {e["event_id"] for e in status["recent_events"]} == {f"evt_pv_{i}" for i in range(6)}
    assert "quality_metrics" in status

    processed = client.post("/api/v1/track/process", headers=acme.headers).json()
    assert processed["raw_to_staging"] == 6
    assert processed["staging_to_business"] == 6
    assert processed["remaining"]["raw_pending"] == 0

    other = client.get("/api/v1/track/status", headers=globex.headers).json()
    assert other["pipeline_status"]["raw_pending"] == 2  # acme's processing did not touch globex
    assert {e["event_id"] for e in other["recent_events"]} == {"evt_pv_100", "evt_pv_101"}

    dashboard = client.get("/api/v1/track/dashboard", headers=acme.headers).json()
    assert dashboard["events_by_type"] == [{"event_type": "page_view", "events": 6}]
    assert sum(h["events"] for h in dashboard["events_by_hour"]) == 6
    assert dashboard["quality_metrics"]["total"] == 6
    assert dashboard["quality_metrics"]["valid"] == 6
    assert dashboard["processing_status"]["raw"] == {"PROCESSED": 6}
    assert dashboard["processing_status"]["business"] == {"LOADED": 6}
    assert dashboard["error_rate"] == 0.0
    assert dashboard["throughput"]["events_per_minute_last_hour"] == 0.1


def test_read_endpoints_need_a_token(client: httpx.Client, make_tenant) -> None:
    make_tenant("acme")
    for method, path in [
        ("GET", "/api/v1/track/status"),
        ("POST", "/api/v1/track/process"),
        ("GET", "/api/v1/track/dashboard"),
    ]:
        assert client.request(method, path, headers={"X-Customer-ID": "acme"}).status_code == 401


def test_dashboard_window_is_validated(client: httpx.Client, make_tenant) -> None:
    acme = make_tenant("acme")
    response = client.get("/api/v1/track/dashboard?hours=0", headers=acme.headers)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid_request"
    assert response.json()["field"] == "hours"
