"""The cross-tenant matrix: with tenant A's credentials, no path shows B's rows or writes into B."""

from __future__ import annotations

import json
from typing import Any

import httpx
import psycopg
import pytest

from onevault.db.queries import query
from tests.conftest import Database, RunningService, tenant_tables


def test_http_reads_show_only_the_callers_tenant(database: Database, make_tenant, service: RunningService) -> None:  # type: ignore[no-untyped-def]
    a, b = make_tenant("alpha"), make_tenant("bravo")
    with httpx.Client(base_url=service.url) as http:
        for creds, prefix, n in ((a, "a", 2), (b, "b", 5)):
            for i in range(n):
                event = {"event_id": f"{prefix}{i}", "event_type": f"{prefix}_type", "page_url": "https://e.com/"}
                assert http.post("/api/v1/track/async", json=event, headers=creds.headers).status_code == 202
        status = http.get("/api/v1/track/status", headers=a.headers).json()
        assert status["pipeline_status"]["raw_pending"] == 2
        assert {e["event_id"] for e in status["recent_events"]} == {"evt_a0", "evt_a1"}
        processed = http.post("/api/v1/track/process", headers=a.headers).json()
        assert processed["raw_to_staging"] == 2, "A's process must touch A's events only"
        dashboard = http.get("/api/v1/track/dashboard", headers=a.headers).json()
        assert "b_type" not in json.dumps(dashboard) and "a_type" in json.dumps(dashboard)
        synced = http.post(
            "/api/v1/track", json={"event_type": "a_sync", "page_url": "https://e.com/"}, headers=a.headers
        )
        assert synced.status_code == 200 and synced.json()["pipeline_results"]["business_processed"] is True
        status_b = http.get("/api/v1/track/status", headers=b.headers).json()
    assert status_b["pipeline_status"]["raw_pending"] == 5, "B's events stay pending: A's calls never processed them"
    assert {e["event_id"][:5] for e in status_b["recent_events"]} == {"evt_b"}


def test_http_writes_into_another_tenant_are_refused(database: Database, make_tenant, service: RunningService) -> None:  # type: ignore[no-untyped-def]
    a, _ = make_tenant("alpha"), make_tenant("bravo")
    into_b = {**a.headers, "X-Customer-ID": "bravo"}
    event = {"event_type": "page_view", "page_url": "https://e.com/"}
    attempts: list[tuple[str, dict[str, Any], dict[str, str], int]] = [
        ("/api/v1/track/async", event, into_b, 403),
        ("/api/v1/track", event, into_b, 403),
        ("/api/v1/track/batch", {"events": [event]}, into_b, 403),
        ("/api/v1/track/process", {}, into_b, 403),
    ]
    for field, value in [("tenant_id", "bravo"), ("customer_id", "bravo"), ("tenant_hk", "00" * 32)]:
        attempts.append(("/api/v1/track/async", {**event, field: value}, a.headers, 422))
        attempts.append(("/api/v1/track/batch", {"events": [{**event, field: value}]}, a.headers, 202))
    attempts.append(("/api/v1/track/async", {**event, "processing_status": "PROCESSED"}, a.headers, 422))
    with httpx.Client(base_url=service.url) as http:
        for path, body, headers, expected in attempts:
            answer = http.post(path, json=body, headers=headers)
            assert answer.status_code == expected, (path, body, answer.text)
            if path.endswith("batch") and expected == 202:
                assert answer.json()["results"][0]["rule"] == "reserved"
    with database.admin() as conn:
        assert conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone() == (0,)


def test_sql_as_the_service_role_cannot_touch_another_tenants_rows(database: Database, two_tenants) -> None:  # type: ignore[no-untyped-def]
    acme, globex = two_tenants["acme"].tenant, two_tenants["globex"].tenant
    with database.admin() as admin:
        tables = tenant_tables(admin)
        samples = {
            t: admin.execute(
                f"SELECT to_jsonb(x) FROM {t} x WHERE tenant_hk = %s LIMIT 1", (globex.tenant_hk,)
            ).fetchone()
            for t in tables
        }
    assert all(samples.values()), "every tenant table needs a row of B for the matrix to mean anything"
    with database.app() as conn:
        for table in tables:
            refused: list[str] = []
            for statement, params in [
                (
                    f"INSERT INTO {table} OVERRIDING SYSTEM VALUE "
                    f"SELECT * FROM jsonb_populate_record(NULL::{table}, %s)",
                    (json.dumps(samples[table][0]),),
                ),  # type: ignore[index]
                (f"UPDATE {table} SET tenant_hk = tenant_hk WHERE tenant_hk = %s", (globex.tenant_hk,)),
                (f"DELETE FROM {table} WHERE tenant_hk = %s", (globex.tenant_hk,)),
                (f"UPDATE {table} SET tenant_hk = %s", (globex.tenant_hk,)),
            ]:
                conn.execute(query("set_tenant"), (acme.tenant_hk,))
                try:
                    changed = conn.execute(statement, params).rowcount
                except psycopg.errors.InsufficientPrivilege:
                    refused.append(statement.split()[0])
                    changed = 0
                conn.rollback()
                assert changed == 0, f"{table}: {statement} changed {changed} rows of another tenant"
            assert "INSERT" in refused, f"{table}: inserting a row of tenant B was not refused"
            conn.execute(query("set_tenant"), (acme.tenant_hk,))
            seen = conn.execute(f"SELECT count(*) FROM {table} WHERE tenant_hk = %s", (globex.tenant_hk,)).fetchone()
            assert seen == (0,), table
            conn.rollback()


@pytest.mark.parametrize(
    "function",
    [
        "SELECT * FROM staging.get_pipeline_status()",
        "SELECT * FROM staging.pipeline_dashboard",
        "SELECT * FROM raw.get_raw_events_for_processing(100)",
        "SELECT * FROM staging.process_complete_pipeline(100)",
        "SELECT * FROM staging.auto_process_if_needed()",
        "SELECT * FROM staging.trigger_pipeline_now()",
    ],
)
def test_sql_functions_as_the_service_role_see_only_the_set_tenant(
    database: Database, two_tenants, function: str
) -> None:  # type: ignore[no-untyped-def]
    acme, globex = two_tenants["acme"].tenant, two_tenants["globex"].tenant
    with database.admin() as admin, admin.transaction():
        admin.execute(query("set_tenant"), (globex.tenant_hk,))
        admin.execute(
            "SELECT api.track_site_event(%s::jsonb, NULL, NULL, 'bravo_secret_event')",
            ('{"event_type": "bravo_secret", "page_url": "https://globex.example/secret"}',),
        )
    with database.app() as conn:
        conn.execute(query("set_tenant"), (acme.tenant_hk,))
        text = json.dumps([list(map(str, row)) for row in conn.execute(function).fetchall()])
        conn.commit()
    assert "bravo_secret" not in text and "globex" not in text and globex.tenant_hk.hex() not in text
    with database.admin() as admin:
        left = admin.execute(
            "SELECT processing_status FROM raw.site_tracking_events WHERE event_id = 'evt_bravo_secret_event'"
        ).fetchone()
    assert left == ("PENDING",), f"{function} as tenant A processed tenant B's event"
