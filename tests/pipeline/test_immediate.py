"""POST /track's pipeline runs: concurrent requests share runs, each hears its own event's outcome, and an
event a worker holds is reported once that worker has committed it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterable

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.errors import OneVaultError
from onevault.ingest.contract import Event, parse_event
from onevault.ingest.writer import RawWrite, raw_params
from onevault.pipeline.immediate import ImmediatePipeline
from onevault.pipeline.runner import agent_params
from tests.conftest import Database, RunningService
from tests.pipeline.dataset import generate, load_raw

UA = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"}
REQUESTS = 24


def event(i: int) -> dict[str, object]:
    valid = i % 6 != 5  # every sixth has a page URL the pipeline refuses: INVALID, with its reason
    return {
        "page_url": f"https://example.com/p{i % 4}" if valid else "javascript:void(0)",
        "event_type": "page_view",
        "event_id": f"imm_{i}",
        "event_data": {"title": f"P{i}"},
        "visitor_id": f"visitor_{i % 3}",
    }


async def send_together(service: RunningService, headers: dict[str, str]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=service.url, timeout=30, headers={**headers, **UA}) as http:
        return await asyncio.gather(*(http.post("/api/v1/track", json=event(i)) for i in range(REQUESTS)))


def test_concurrent_requests_share_runs_and_each_hears_its_own_outcome(
    service: RunningService, make_tenant, database: Database
) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    responses = asyncio.run(send_together(service, acme.headers))
    assert [r.status_code for r in responses] == [200] * REQUESTS
    for i, response in enumerate(responses):
        body = response.json()
        assert body["event_id"] == f"evt_imm_{i}"
        outcome = body["pipeline_results"]
        if i % 6 == 5:
            assert outcome["validation_status"] == "INVALID" and outcome["business_processed"] is False
            assert "page_url_unparseable" in outcome["reason"]
        else:
            assert outcome["validation_status"] == "VALID" and outcome["business_processed"] is True
    with database.admin() as conn:
        loaded, runs = conn.execute("SELECT count(*), count(DISTINCT load_dts) FROM business.site_event_h").fetchone()
        sessions = conn.execute("SELECT count(*) FROM business.site_session_h").fetchone()
    assert loaded == REQUESTS - REQUESTS // 6
    assert runs < REQUESTS  # each run has one load time: fewer runs than requests means they were shared
    assert sessions == (3,)  # three visitors within minutes of each other: one derived session each


def test_an_event_held_by_a_worker_is_reported_after_its_commit(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    truth = generate(1, 1, 3, seed=4)
    with database.app() as conn:
        load_raw(conn, acme, truth.events)
    wanted = truth.events[1].event_id
    answers: list[object] = []
    with database.app() as worker, database.app() as caller:
        with tenant_transaction(worker, acme):
            claim = worker.execute("SELECT * FROM staging.claim_raw_batch(100)").fetchone()
            assert claim is not None and len(claim[0]) == 3
            worker.execute("SELECT staging.run_claimed_batch(%s, %s)", claim)

            def ask() -> None:
                with tenant_transaction(caller, acme):
                    answers.append(caller.execute(query("process_events_now"), ([wanted, "evt_nope"],)).fetchall())

            asking = threading.Thread(target=ask)
            asking.start()
            asking.join(timeout=1.5)
            assert asking.is_alive() and answers == []  # waiting for the worker's commit
        asking.join(timeout=15)  # the worker's transaction committed on leaving the block
    assert not asking.is_alive()
    [[(first_id, first), (second_id, second)]] = answers
    assert first_id == wanted and first["business_processed"] is True and first["validation_status"] == "VALID"
    assert second_id == "evt_nope" and second == {
        "raw_processed": False,
        "staging_processed": False,
        "business_processed": False,
        "reason": "no such event",
    }


FAIL_PIPELINE = """
CREATE FUNCTION public.refuse_agents() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RAISE EXCEPTION 'simulated pipeline failure'; END $$;
CREATE TRIGGER refuse_agents BEFORE INSERT ON staging.user_agent_parsed
    FOR EACH ROW EXECUTE FUNCTION public.refuse_agents();
"""


def test_a_failed_run_still_stores_the_event_and_says_it_is_queued(
    client: httpx.Client, make_tenant, database: Database
) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    with database.admin() as conn:
        conn.execute(FAIL_PIPELINE)
    response = client.post("/api/v1/track", json=event(1), headers={**acme.headers, **UA})
    assert response.status_code == 200
    body = response.json()
    assert body["processing_status"] == "queued" and body["duplicate"] is False
    assert body["pipeline_results"]["raw_processed"] is True
    assert body["pipeline_results"]["business_processed"] is False
    assert "worker" in body["pipeline_results"]["reason"]
    with database.admin() as conn:
        stored = conn.execute("SELECT event_id, processing_status FROM raw.site_tracking_events").fetchall()
        staged = conn.execute("SELECT count(*) FROM staging.site_events").fetchone()
    assert stored == [("evt_imm_1", "PENDING")] and staged == (0,)  # the run's part rolled back, the row did not
    again = client.post("/api/v1/track", json=event(1), headers={**acme.headers, **UA}).json()
    assert again["duplicate"] is True  # a retry is still stored once


def write(i: int, agent: str = UA["User-Agent"], make: Callable[[int], dict[str, object]] = event) -> RawWrite:
    """The parsed request of event `make(i)` from one client address."""
    return RawWrite(parse_event(json.dumps(make(i)).encode(), 65536), "203.0.113.9", agent)


def track_params(
    tenant_hk: bytes,
    numbers: Iterable[int],
    agent: str = UA["User-Agent"],
    make: Callable[[int], dict[str, object]] = event,
) -> dict[str, object]:
    """`staging.track_events_now`'s parameters for the events `make(i)` (this module's `event`)."""
    # Built by hand, every id as often as it is given: the statement itself must run a repeated id once.
    writes = [write(i, agent, make) for i in numbers]
    return {
        "tenant_hk": tenant_hk,
        "event_ids": [w.event.event_id for w in writes],
        "client_ips": [w.client_ip for w in writes],
        "user_agents": [w.user_agent for w in writes],
        "payloads": [w.event.payload_json for w in writes],
        "batch_id": "now_test",
        **agent_params(w.user_agent for w in writes if w.user_agent),
    }


def run_in_one_statement(
    database: Database, tenant_hk: bytes, numbers: list[int], agent: str = UA["User-Agent"]
) -> list[tuple[object, ...]]:
    with psycopg.connect(database.app_url, autocommit=True) as conn:
        return [tuple(row) for row in conn.execute(query("track_events_now"), track_params(tenant_hk, numbers, agent))]


def test_runs_in_two_api_processes_take_turns_and_derive_one_session(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    # Migration 0021. Two API processes each run their own requests; the second run cannot see the first
    # one's uncommitted events, and without the lock would start a second session for visitor_0. Another
    # agent, and the day's visitor salt made by an earlier run, so that the two runs do not meet at an
    # insert first (which would make the second wait for another reason).
    acme = make_tenant("acme").tenant.tenant_hk
    run_in_one_statement(database, acme, [1])  # visitor_1
    second: list[list[tuple[object, ...]]] = []
    with psycopg.connect(database.app_url) as first:
        first.execute(query("track_events_now"), track_params(acme, [0])).fetchall()  # visitor_0; still open
        running = threading.Thread(target=lambda: second.append(run_in_one_statement(database, acme, [3], "curl/8")))
        running.start()
        running.join(timeout=1.5)
        assert running.is_alive()  # waiting for the first run's commit
        first.commit()
    running.join(timeout=15)
    assert not running.is_alive()
    [[(event_id, stored, outcome, failure)]] = second
    assert (event_id, stored, failure) == ("evt_imm_3", True, None)
    assert isinstance(outcome, dict) and outcome["business_processed"] is True
    with database.admin() as conn:
        sessions = conn.execute("SELECT count(*) FROM business.site_session_h").fetchone()
        derived = conn.execute("SELECT count(DISTINCT session_key) FROM staging.site_events").fetchone()
    assert sessions == (2,) and derived == (2,)  # visitor_1's, and one for visitor_0's two events


def test_a_run_is_one_statement_that_answers_each_id_once(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    [(first_id, stored, outcome, failure)] = run_in_one_statement(database, acme, [1])
    assert (first_id, stored, failure) == ("evt_imm_1", True, None)
    assert outcome["business_processed"] is True and outcome["validation_status"] == "VALID"
    again = run_in_one_statement(database, acme, [2, 1, 2])  # a new id twice, and one stored before
    assert [(row[0], row[1], row[3]) for row in again] == [("evt_imm_2", True, None), ("evt_imm_1", False, None)]
    assert all(row[2]["business_processed"] is True for row in again)
    with database.admin() as conn:
        conn.execute(FAIL_PIPELINE)
    [(third_id, stored, outcome, failure)] = run_in_one_statement(database, acme, [3])
    assert (third_id, stored, outcome, failure) == ("evt_imm_3", True, None, "simulated pipeline failure")
    with database.admin() as conn:
        raw = conn.execute("SELECT event_id, processing_status FROM raw.site_tracking_events ORDER BY 1").fetchall()
        staged = conn.execute("SELECT count(*) FROM staging.site_events").fetchone()
    assert raw == [("evt_imm_1", "PROCESSED"), ("evt_imm_2", "PROCESSED"), ("evt_imm_3", "PENDING")]
    assert staged == (2,)  # the failed run's pipeline part rolled back, its raw row did not


def notified(listener: psycopg.Connection) -> int:
    """How many notifications reached `listener` within half a second."""
    return len(list(listener.notifies(timeout=0.5, stop_after=1)))


def test_a_run_wakes_the_workers_only_when_it_leaves_events_for_them(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    # Migration 0038: a run processes what it stores, so its raw insert notifies no one; a raw insert
    # of the ingest path does, and so does a run whose pipeline part failed.
    acme = make_tenant("acme").tenant.tenant_hk
    with psycopg.connect(database.app_url, autocommit=True) as listener:
        listener.execute(query("listen_raw_events"))
        run_in_one_statement(database, acme, [1])
        after_run = notified(listener)
        with database.app() as conn, conn.transaction():
            conn.execute(query("insert_raw_events"), raw_params(acme, [[write(2)]], "async"))
        after_ingest = notified(listener)
        with database.admin() as conn:
            conn.execute(FAIL_PIPELINE)
        [(_, stored, _, failure)] = run_in_one_statement(database, acme, [3])
        after_failed_run = notified(listener)
    assert (stored, failure) == (True, "simulated pipeline failure")
    assert (after_run, after_ingest, after_failed_run) == (0, 1, 1)


async def run_and_fail(database: Database, tenant_hk: bytes) -> tuple[bool, bool]:
    """A run that succeeds (with no user agent at all), then one whose store fails, on a pool of one
    connection; whether that connection was back out of autocommit after each."""
    modes = []
    async with AsyncConnectionPool(database.app_url, min_size=1, max_size=1, open=False) as pool:
        pipeline = ImmediatePipeline(pool)
        done = await pipeline.process(
            tenant_hk, RawWrite(parse_event(json.dumps(event(1)).encode(), 65536), None, None)
        )
        assert done.outcome is not None and done.outcome["business_processed"] is True
        async with pool.connection() as conn:
            modes.append(conn.autocommit)
        broken = Event("not an event id", True, json.dumps(event(2)))  # refused by the raw table's CHECK
        with pytest.raises(OneVaultError):
            await pipeline.process(tenant_hk, RawWrite(broken, None, None))
        async with pool.connection() as conn:
            modes.append(conn.autocommit)
    return modes[0], modes[1]


def test_a_run_hands_its_connection_back_out_of_autocommit(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    assert asyncio.run(run_and_fail(database, acme)) == (False, False)


async def callers_coming_back(database: Database, tenant_hk: bytes, gather_ms: float) -> list[int]:
    """Four callers send an event together, then each sends another within 5 ms of its answer; the
    sizes of the runs that took the second events."""
    async with AsyncConnectionPool(database.app_url, min_size=1, max_size=2, open=False) as pool:
        pipeline = ImmediatePipeline(pool, gather_ms=gather_ms)

        async def caller(k: int) -> None:
            await pipeline.process(tenant_hk, write(k))
            await asyncio.sleep(0.001 * (k + 1))
            await pipeline.process(tenant_hk, write(100 + k))

        await asyncio.gather(*(caller(k) for k in range(4)))
    with database.admin() as conn:
        rows = conn.execute(
            "SELECT count(*) FROM raw.site_tracking_events WHERE event_id LIKE 'evt_imm_10_' GROUP BY batch_id"
        ).fetchall()
    return sorted(n for (n,) in rows)


def test_the_next_run_waits_for_the_callers_just_answered(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    # They come back 1 to 4 ms after their answer: one run takes them all within a 200 ms window.
    acme = make_tenant("acme").tenant.tenant_hk
    assert asyncio.run(callers_coming_back(database, acme, 200)) == [4]


def test_without_a_window_the_first_caller_back_starts_a_run_alone(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    sizes = asyncio.run(callers_coming_back(database, acme, 0))
    assert sum(sizes) == 4 and len(sizes) >= 2, sizes


async def lone_caller(database: Database, tenant_hk: bytes, gather_ms: float) -> float:
    """Seconds taken by three requests of one caller, one after another."""
    async with AsyncConnectionPool(database.app_url, min_size=1, max_size=1, open=False) as pool:
        pipeline = ImmediatePipeline(pool, gather_ms=gather_ms)
        await pipeline.process(tenant_hk, write(0))  # plans made, tables touched
        started = time.monotonic()
        for i in range(1, 4):
            await pipeline.process(tenant_hk, write(i))
        return time.monotonic() - started


def test_a_lone_caller_does_not_wait_for_the_window(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    # Each run expects one caller back, and it is back: no run waits. (Waiting would take 6 s.)
    acme = make_tenant("acme").tenant.tenant_hk
    assert asyncio.run(lone_caller(database, acme, 2000)) < 3.0
