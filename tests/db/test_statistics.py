"""Tables that grew are analyzed on the application's request (migration 0023), so that no session keeps
plans made while they were empty."""

from __future__ import annotations

import asyncio
import time

import psycopg
from psycopg_pool import AsyncConnectionPool

from onevault.db.queries import query
from onevault.db.statistics import StatisticsKeeper, analyze_grown_tables
from onevault.pipeline.worker import start_in_thread
from tests.conftest import Database
from tests.pipeline.dataset import generate, load_raw
from tests.pipeline.test_immediate import track_params

GROWN = ("raw.site_tracking_events", "staging.site_events", "business.site_event_h", "business.site_event_details_s")


def own_visit(i: int) -> dict[str, object]:
    """An event of its own visitor and session (so that no session's summary reads more than its event)."""
    return {
        "event_type": "page_view",
        "page_url": f"https://example.com/p{i % 7}",
        "event_id": f"st_{i}",
        "visitor_id": f"visitor_{i}",
        "session_id": f"sess_{i}",
        "event_data": {"title": f"P{i}"},
    }


def track(conn: psycopg.Connection, tenant_hk: bytes, numbers: range) -> None:
    conn.execute(query("track_events_now"), track_params(tenant_hk, numbers, make=own_visit)).fetchall()


def without_autovacuum(database: Database) -> None:
    """Keep autovacuum off the tables: it analyzes them too, at its own time. (Before any plan is made:
    the ALTER TABLE makes every session plan again, as an ANALYZE does.)"""
    with database.admin() as admin:
        for table in GROWN:
            admin.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")


def fill(database: Database, tenant_hk: bytes, numbers: range, conn: psycopg.Connection | None = None) -> None:
    """Store and process these events (on a new connection unless given one) and wait until the
    statistics count them."""
    if conn is None:
        with psycopg.connect(database.app_url, autocommit=True) as new:
            track(new, tenant_hk, numbers)
    else:
        track(conn, tenant_hk, numbers)
    deadline = time.monotonic() + 15
    with database.admin() as admin:
        while time.monotonic() < deadline:
            changes = admin.execute("SELECT pg_stat_get_mod_since_analyze('staging.site_events'::regclass)").fetchone()[
                0
            ]  # type: ignore[index]
            if changes >= len(numbers):
                return
            admin.execute("SELECT pg_stat_clear_snapshot()")
            if conn is not None:  # an open session reports its counts when idle, a second after the last time
                conn.execute("SELECT 1")
            time.sleep(0.1)
    raise AssertionError(f"the statistics never counted {len(numbers)} changes to staging.site_events")


def reltuples(database: Database, table: str) -> float:
    with database.admin() as admin:
        return admin.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", (table,)).fetchone()[0]  # type: ignore[index]


def rows_read(conn: psycopg.Connection, table: str) -> int:
    """Rows this session read from `table` by scans and index lookups, as far as it has not reported them."""
    row = conn.execute(
        "SELECT seq_tup_read + idx_tup_fetch FROM pg_stat_xact_user_tables WHERE relid = %s::regclass", (table,)
    ).fetchone()
    assert row is not None
    return int(row[0])


def test_the_tables_that_doubled_are_analyzed_once(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    without_autovacuum(database)
    fill(database, acme, range(300))
    assert reltuples(database, "staging.site_events") == -1  # never analyzed
    with database.app() as conn:  # the application role, which owns no table
        first = analyze_grown_tables(conn)
        second = analyze_grown_tables(conn)
    assert set(GROWN) <= set(first), first
    assert "auth.tenant_h" not in first  # one row changed: too few to matter
    assert second == []  # nothing doubled since
    assert reltuples(database, "staging.site_events") == 300


def test_a_run_after_the_tables_grew_reads_only_its_own_rows_once_they_are_analyzed(  # type: ignore[no-untyped-def]
    database: Database, make_tenant
) -> None:
    acme = make_tenant("acme").tenant.tenant_hk
    without_autovacuum(database)
    with (
        psycopg.connect(database.app_url, autocommit=True) as filler,
        psycopg.connect(database.app_url, autocommit=True) as conn,
    ):
        # The filler's first run makes its temporary tables first: a session's first temporary table
        # makes every session plan again, which would hide what this test looks at.
        track(filler, acme, range(9000, 9001))
        for i in range(12):  # past the plan cache's five custom plans: generic plans of the empty tables
            track(conn, acme, range(8 * i, 8 * i + 8))
        fill(database, acme, range(100, 3100), filler)  # the tables grow under those plans
        with database.app() as other:  # another session: its ANALYZE reaches this one's plans
            assert "staging.site_events" in analyze_grown_tables(other)
        with conn.transaction():  # the counts still pending in the session: read them before and after
            before = rows_read(conn, "staging.site_events")
            track(conn, acme, range(5000, 5008))
            read = rows_read(conn, "staging.site_events") - before
    # A few lookups per event. The plans of the empty table read all 3,000 rows at each lookup.
    assert read < 100, read


async def keep(database: Database, interval: float, wanted: str) -> list[float]:
    """Run the API's keeper until `wanted` has statistics; return how it looked each time."""
    seen: list[float] = []
    async with AsyncConnectionPool(database.app_url, min_size=1, max_size=2, open=False) as pool:
        keeper = StatisticsKeeper(pool, interval)
        await keeper.start()
        try:
            for _ in range(150):
                seen.append(reltuples(database, wanted))
                if seen[-1] > 0:
                    break
                await asyncio.sleep(0.1)
        finally:
            await keeper.stop()
    return seen


def test_the_apis_keeper_analyzes_a_grown_table_within_its_interval(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    without_autovacuum(database)
    fill(database, acme, range(250))
    seen = asyncio.run(keep(database, 0.2, "staging.site_events"))
    assert seen[0] == -1 and seen[-1] == 250, seen


def test_the_worker_analyzes_the_tables_it_filled(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    without_autovacuum(database)
    with database.app() as conn:
        load_raw(conn, acme, generate(30, 2, 5, seed=3).events)  # 300 events
    worker, thread = start_in_thread(database.app_url, poll_seconds=0.2, statistics_seconds=0.2)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and reltuples(database, "business.site_event_h") <= 0:
            time.sleep(0.1)
    finally:
        worker.stop.set()
        thread.join(timeout=30)
    assert worker.processed.loaded == 300
    assert reltuples(database, "business.site_event_h") == 300


def test_a_worker_that_cannot_refresh_statistics_goes_on_draining(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    with database.admin() as admin:  # the refresh fails with "permission denied"
        admin.execute("REVOKE EXECUTE ON FUNCTION util.analyze_grown_tables(bigint, bigint) FROM onevault_app")
    with database.app() as conn:
        load_raw(conn, acme, generate(3, 1, 4, seed=4).events)  # 12 events
    worker, thread = start_in_thread(database.app_url, poll_seconds=0.2, statistics_seconds=0.1)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and worker.processed.loaded < 12:
            time.sleep(0.1)
        time.sleep(0.5)  # several refreshes fail meanwhile
        alive = thread.is_alive()
    finally:
        worker.stop.set()
        thread.join(timeout=30)
    assert worker.processed.loaded == 12
    assert alive
