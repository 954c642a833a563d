"""Group commit keeps durability: an answered event is committed, a failed commit is never answered 2xx."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from onevault.db.queries import query
from tests.conftest import Database, free_port, process_env

FAIL_AT_COMMIT = """
CREATE FUNCTION public.fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.raw_payload ->> 'event_type' = 'fail_commit' THEN RAISE EXCEPTION 'simulated commit failure'; END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER fail_at_commit AFTER INSERT ON raw.site_tracking_events
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION public.fail_at_commit();
"""


def raw_ids(database: Database) -> set[str]:
    with database.admin() as conn:
        return {r[0] for r in conn.execute("SELECT event_id FROM raw.site_tracking_events")}


def test_a_request_whose_commit_fails_gets_a_5xx(client: httpx.Client, make_tenant, database: Database) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    with database.admin() as conn:
        conn.execute(FAIL_AT_COMMIT)
    bad = client.post(
        "/api/v1/track/async",
        headers=acme.headers,
        json={"event_type": "fail_commit", "page_url": "https://e.com/", "event_id": "doomed"},
    )
    assert bad.status_code >= 500
    assert set(bad.json()) >= {"error", "message"}
    good = client.post(
        "/api/v1/track/async",
        headers=acme.headers,
        json={"event_type": "page_view", "page_url": "https://e.com/", "event_id": "fine"},
    )
    assert good.status_code == 202
    assert raw_ids(database) == {"evt_fine"}


@pytest.mark.slow
def test_every_2xx_survives_sigkill_of_the_server_mid_load(database: Database, make_tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    port = free_port()
    env = process_env(database, tmp_path, ONEVAULT_PORT=str(port))
    proc = subprocess.Popen(
        [sys.executable, "-m", "onevault", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        acknowledged: list[str] = []
        # One shared client: a client per request spends its time building TLS contexts, not sending.
        http = httpx.Client(
            base_url=url,
            headers=acme.headers,
            timeout=5,
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=32),
        )

        def send(i: int) -> None:
            body = {"event_type": "page_view", "page_url": f"https://e.com/{i}", "event_id": f"k{i}"}
            try:
                response = http.post("/api/v1/track/async", json=body)
            except httpx.HTTPError:
                return
            if response.status_code == 202:
                acknowledged.append(response.json()["event_id"])

        with http, concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
            futures = [pool.submit(send, i) for i in range(3000)]
            while len(acknowledged) < 500:
                time.sleep(0.01)
            os.kill(proc.pid, signal.SIGKILL)  # mid-load: requests are in flight
            concurrent.futures.wait(futures)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    assert 500 <= len(acknowledged) < 3000
    missing = set(acknowledged) - raw_ids(database)
    assert missing == set(), f"{len(missing)} acknowledged events were lost"


def test_each_commit_leaves_its_ingest_audit_rows(client: httpx.Client, make_tenant, database: Database) -> None:  # type: ignore[no-untyped-def]
    # One INGESTED row per committed batch with its count, and a DUPLICATE row naming the ids already
    # stored or repeated in the batch: written by the same statement as the events (raw.sql).
    acme = make_tenant("acme")

    def event(n: int) -> dict[str, object]:
        return {"event_id": f"aud_{n}", "event_type": "page_view", "page_url": "https://e.com/"}

    first = client.post("/api/v1/track/batch", headers=acme.headers, json={"events": [event(1), event(2)]})
    again = client.post("/api/v1/track/batch", headers=acme.headers, json={"events": [event(2), event(3), event(1)]})
    only_old = client.post("/api/v1/track/batch", headers=acme.headers, json={"events": [event(3), event(3)]})
    assert [a.status_code for a in (first, again, only_old)] == [202, 202, 202]
    batches = [first.json()["accepted"], again.json()["accepted"], only_old.json()["accepted"]]
    assert batches == [2, 1, 0]
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT batch_id, action, event_count, detail -> 'event_ids' FROM raw.site_tracking_events_audit"
            " WHERE tenant_hk = %s AND action IN ('INGESTED', 'DUPLICATE') ORDER BY audit_id",
            (acme.tenant.tenant_hk,),
        ).fetchall()
    assert [r[1:] for r in rows] == [
        ("INGESTED", 2, None),
        ("INGESTED", 1, None),
        ("DUPLICATE", 2, ["evt_aud_2", "evt_aud_1"]),
        ("DUPLICATE", 1, ["evt_aud_3"]),
    ]
    assert rows[1][0] == rows[2][0] and rows[0][0] != rows[1][0] != rows[3][0]


def test_the_writers_statement_keeps_its_tenant_to_its_own_transaction(make_tenant, database: Database) -> None:  # type: ignore[no-untyped-def]
    # The group-commit writer calls raw.store_events on autocommit connections (migration 0015): the
    # tenant it sets must end with that statement's transaction, so the next statement sees no rows.
    acme = make_tenant("acme")
    params = {
        "tenant_hk": acme.tenant.tenant_hk,
        "event_ids": ["evt_own_1"],
        "client_ips": ["198.51.100.7"],
        "user_agents": ["test"],
        "payloads": ['{"event_type": "page_view", "page_url": "https://e.com/", "event_id": "evt_own_1"}'],
        "batch_id": "own",
    }
    with database.app() as conn:
        conn.autocommit = True
        assert conn.execute(query("insert_raw_events"), params).fetchall() == [("evt_own_1",)]
        assert conn.execute(query("insert_raw_events"), params).fetchall() == []  # stored once
        assert conn.execute("SELECT current_setting('onevault.tenant_hk', true)").fetchone() in {("",), (None,)}
        assert conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone() == (0,)
    assert raw_ids(database) == {"evt_own_1"}
