"""A worker's batch and a POST /track run that share a new user agent: the run stores the agent and then
waits for the worker's earlier batch, so the worker must not wait for the run's uncommitted agent row
while it holds its claim (the two would deadlock until PostgreSQL cancelled one of them)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import psycopg
import pytest

from onevault.db.queries import query
from onevault.ingest.contract import parse_event
from onevault.ingest.writer import RawWrite, raw_params
from onevault.pipeline import runner
from onevault.pipeline.runner import BatchResult, agent_params, run_tenant_batch
from tests.conftest import Database

NEW_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
WAITING_ON_A_LOCK = "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE application_name = 'track-run'"


def write(number: int) -> RawWrite:
    body = {"page_url": f"https://example.com/p{number}", "event_type": "page_view", "event_id": f"dl_{number}",
            "event_data": {"title": "T"}, "visitor_id": "visitor_dl"}  # fmt: skip
    return RawWrite(parse_event(json.dumps(body).encode(), 65536), "203.0.113.9", NEW_AGENT)


def track_run(database: Database, tenant_hk: bytes, out: list[tuple[Any, ...]]) -> None:
    """POST /track's statement for one new event with the new agent."""
    params = {**raw_params(tenant_hk, [[write(2)]], "track_run"), **agent_params([NEW_AGENT])}
    with psycopg.connect(database.app_url, autocommit=True, application_name="track-run") as conn:
        out.extend(tuple(row) for row in conn.execute(query("track_events_now"), params))


def test_a_worker_gives_its_claim_back_instead_of_waiting_on_a_track_run(
    database: Database, make_tenant, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    with database.app() as conn, conn.transaction():  # the earlier event: pending, its agent not parsed yet
        conn.execute(query("insert_raw_events"), raw_params(acme, [[write(1)]], "earlier"))
    claimed, go = threading.Event(), threading.Event()
    real_query = runner.query

    def pausing_query(name: str) -> str:  # the worker stops after its first claim until the run waits on it
        if name == "unparsed_user_agents_of" and not claimed.is_set():
            claimed.set()
            assert go.wait(30)
        return real_query(name)

    monkeypatch.setattr(runner, "query", pausing_query)
    done: list[BatchResult] = []
    answers: list[tuple[Any, ...]] = []
    with database.app() as conn:
        worker = threading.Thread(target=lambda: done.append(run_tenant_batch(conn, acme, 100)))
        worker.start()
        assert claimed.wait(30)
        run = threading.Thread(target=track_run, args=(database, acme, answers))
        run.start()
        with database.admin() as admin:  # the run has stored the agent and waits for the claimed event
            deadline = time.monotonic() + 30
            while admin.execute(WAITING_ON_A_LOCK).fetchone() != (True,):
                assert time.monotonic() < deadline and run.is_alive()
                time.sleep(0.02)
        go.set()
        worker.join(60)
        run.join(60)
    [(event_id, stored, outcome, failure)] = answers
    assert (event_id, stored, failure) == ("evt_dl_2", True, None)  # not cancelled as a deadlock victim
    assert outcome["business_processed"] is True
    assert [(d.staged, d.loaded, d.errors) for d in done] == [(1, 1, 0)]
    with database.admin() as admin:
        staged = admin.execute("SELECT event_id, browser_name FROM staging.site_events ORDER BY 1").fetchall()
        agents = admin.execute("SELECT count(*) FROM staging.user_agent_parsed").fetchone()
    assert staged == [("evt_dl_1", "Chrome"), ("evt_dl_2", "Chrome")] and agents == (1,)


ALWAYS_NEW = """SELECT DISTINCT user_agent FROM raw.site_tracking_events
 WHERE tenant_hk = util.current_tenant_hk() AND raw_event_id = ANY (%(ids)s)"""


def test_a_batch_whose_agents_keep_arriving_stores_them_inline(
    database: Database, make_tenant, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The last attempt stores the agents inside its own transaction rather than give the claim back again."""
    acme = make_tenant("acme").tenant.tenant_hk
    with database.app() as conn, conn.transaction():
        conn.execute(query("insert_raw_events"), raw_params(acme, [[write(1)]], "earlier"))
    checks: list[str] = []
    real_query = runner.query

    def agents_always_new(name: str) -> str:  # as if another new agent arrived before every check
        if name == "unparsed_user_agents_of":
            checks.append(name)
            return ALWAYS_NEW
        return real_query(name)

    monkeypatch.setattr(runner, "query", agents_always_new)
    with database.app() as conn:
        result = run_tenant_batch(conn, acme, 100)
    assert (result.staged, result.loaded, result.errors) == (1, 1, 0)
    assert len(checks) == runner.AGENT_RETRIES + 1
    with database.admin() as admin:
        assert admin.execute("SELECT browser_name FROM staging.site_events").fetchall() == [("Chrome",)]
