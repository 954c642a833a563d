"""A session analyzes its batch work table once for batches of about one size (migration 0029): each
ANALYZE makes every later statement of the batch plan again, for statistics that barely move. And it
creates the table once, quietly (migration 0031), and looks each distinct user agent up once (0034)."""

from __future__ import annotations

import json

import psycopg

from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.ingest.contract import parse_event
from onevault.ingest.writer import RawWrite, raw_params
from onevault.pipeline.runner import agent_params, run_tenant_batch, store_agents
from tests.conftest import Database

AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def write(number: int) -> RawWrite:
    body = {"page_url": f"https://example.com/p{number % 7}", "event_type": "page_view", "event_id": f"wt_{number}",
            "event_data": {"title": "T"}, "visitor_id": f"visitor_{number // 10}"}  # fmt: skip
    return RawWrite(parse_event(json.dumps(body).encode(), 65536), "203.0.113.9", AGENT)


def table_stats(conn: psycopg.Connection, table: str, *columns: str) -> tuple[int, ...]:
    """Columns of `table`'s row in pg_stat_user_tables, this session's statistics flushed first."""
    conn.execute("SELECT pg_stat_force_next_flush()")  # flushed as the backend goes idle after it
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        f"SELECT {', '.join(columns)} FROM pg_stat_user_tables WHERE relid = to_regclass(%s)", (table,)
    ).fetchone()
    assert row is not None, f"{table} has no statistics entry"
    return tuple(int(v or 0) for v in row)


def analyze_count(conn: psycopg.Connection) -> int:
    """How often this session's work table has been analyzed."""
    return table_stats(conn, "pg_temp.pipeline_batch_v2", "analyze_count")[0]


def test_a_session_analyzes_its_work_table_again_only_for_a_much_larger_batch(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    with database.app() as conn, conn.transaction():
        conn.execute(query("insert_raw_events"), raw_params(acme, [[write(n) for n in range(700)]], "bulk"))
    counts = []
    with database.app() as conn:
        conn.autocommit = True
        for size in (100, 100, 150, 250, 50):
            assert run_tenant_batch(conn, acme, size).staged == size
            counts.append(analyze_count(conn))
    # The first batch analyzes; equal and slightly larger ones keep its statistics; a batch more than
    # twice the size analyzes again; a small one (as POST /track's runs) never does.
    assert counts == [1, 1, 1, 2, 2]


def test_a_session_creates_its_work_table_once_and_without_notices(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    with database.app() as conn, conn.transaction():
        conn.execute(query("insert_raw_events"), raw_params(acme, [[write(n) for n in range(30)]], "bulk"))
    notices: list[str] = []
    with database.app() as conn:
        conn.autocommit = True
        conn.add_notice_handler(lambda diag: notices.append(str(diag.message_primary)))
        tables = []
        for _ in range(3):
            assert run_tenant_batch(conn, acme, 10).staged == 10
            row = conn.execute("SELECT to_regclass('pg_temp.pipeline_batch_v2')::oid").fetchone()
            tables.append(row[0] if row else None)
            # Emptied at commit: the next batch never sees this one's rows.
            assert conn.execute("SELECT count(*) FROM pg_temp.pipeline_batch_v2").fetchone() == (0,)
    assert tables[0] is not None and tables == [tables[0]] * 3
    assert notices == []  # CREATE TABLE IF NOT EXISTS noticed "already exists" at every batch but the first


def test_a_session_whose_work_table_has_the_old_shape_still_runs_batches(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    # Migration 0033 put the hot columns first; a pooled session that made its table before keeps the old
    # column order, and every statement must name the columns it writes.
    acme = make_tenant("acme").tenant.tenant_hk
    with database.app() as conn, conn.transaction():
        conn.execute(query("insert_raw_events"), raw_params(acme, [[write(n) for n in range(30)]], "bulk"))
    with database.app() as conn:
        conn.autocommit = True
        conn.execute(
            "CREATE TEMP TABLE pipeline_batch_v2 (LIKE staging.site_events, needs_session boolean, fired integer[],"
            " cookieless_key text, event_hk bytea, session_hk bytea, visitor_hk bytea, page_hk bytea)"
            " ON COMMIT DELETE ROWS"
        )
        first = run_tenant_batch(conn, acme, 30)
        with database.admin() as admin:  # send the staged events through the business load again
            admin.execute("UPDATE staging.site_events SET business_status = 'PENDING'")
        again = run_tenant_batch(conn, acme, 30)
        column = conn.execute("SELECT attname FROM pg_attribute WHERE attrelid = 'pg_temp.pipeline_batch_v2'::regclass"
                              " AND attnum = 1").fetchone()  # fmt: skip
    assert (first.staged, first.loaded) == (30, 30)
    assert again.loaded == 30
    assert column == ("tenant_hk",)  # the session kept its own table
    with database.admin() as admin:
        assert admin.execute("SELECT count(*) FROM business.site_event_h").fetchone() == (30,)


def agent_scans(conn: psycopg.Connection) -> tuple[int, ...]:
    """Index and sequential scans of the parsed user agents so far."""
    return table_stats(conn, "staging.user_agent_parsed", "idx_scan", "seq_scan")


def test_a_batch_looks_up_each_distinct_agent_once(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    agents = [AGENT, AGENT.replace("128.0", "129.0"), AGENT.replace("Linux", "Windows")]
    writes = [write(n)._replace(user_agent=agents[n % 3]) if n < 39 else write(n)._replace(user_agent=None)
              for n in range(40)]  # fmt: skip
    with database.app() as conn, conn.transaction():
        conn.execute(query("insert_raw_events"), raw_params(acme, [writes], "bulk"))
    with database.app() as conn:
        conn.autocommit = True
        with tenant_transaction(conn, acme):
            store_agents(conn, agents)
            ids = [r[0] for r in conn.execute("SELECT raw_event_id FROM raw.site_tracking_events").fetchall()]
        before = agent_scans(conn)
        with tenant_transaction(conn, acme):
            assert conn.execute("SELECT staging.prepare_batch(%s, 'PENDING')", (ids,)).fetchone() == (40,)
            browsers = conn.execute("SELECT count(*) FROM pipeline_batch_v2 WHERE browser_name = 'Firefox'")
            assert browsers.fetchone() == (39,)
        after = agent_scans(conn)
    # One probe of the key per distinct agent: not one per event, nor a read of all the tenant's agents.
    assert (after[0] - before[0], after[1] - before[1]) == (3, 0)


def big_write(number: int) -> RawWrite:
    """An event whose work-table row cannot fit in a page without TOAST (20,000 bytes of event_data)."""
    body = {"page_url": "https://example.com/big", "event_type": "page_view", "event_id": f"wt_{number}",
            "event_data": {"title": "Big", "notes": "n" * 20_000}, "visitor_id": f"visitor_{number // 10}"}  # fmt: skip
    return RawWrite(parse_event(json.dumps(body).encode(), 65536), "203.0.113.9", AGENT)


def has_toast(conn: psycopg.Connection) -> bool:
    """Whether this session's work table has a TOAST table."""
    row = conn.execute("SELECT reltoastrelid <> 0 FROM pg_class WHERE oid = 'pg_temp.pipeline_batch_v2'::regclass")
    return bool(row.fetchone() == (True,))


def test_the_work_table_gets_toast_only_when_a_row_needs_it(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    # Migration 0037. Without TOAST, a commit truncates one file instead of rebuilding the TOAST table's
    # index; a row too big for a page gives the session a table with TOAST, and the batch runs again in it.
    acme = make_tenant("acme").tenant.tenant_hk
    writes = [write(n) for n in range(10)] + [big_write(10)] + [write(n) for n in range(11, 15)]
    with database.app() as conn, conn.transaction():
        conn.execute(query("insert_raw_events"), raw_params(acme, [writes], "bulk"))
    with database.app() as conn:
        conn.autocommit = True
        first = run_tenant_batch(conn, acme, 10)
        toast_after_small = has_toast(conn)
        second = run_tenant_batch(conn, acme, 10)  # the big event and four small ones
        toast_after_big = has_toast(conn)
    assert (first.staged, first.loaded, second.staged, second.loaded) == (10, 10, 5, 5)
    assert (toast_after_small, toast_after_big) == (False, True)
    with database.admin() as admin:
        notes = admin.execute(
            "SELECT length(d.event_data ->> 'notes') FROM business.site_event_details_s d"
            " JOIN business.site_event_h h USING (tenant_hk, site_event_hk) WHERE h.site_event_bk = 'evt_wt_10'"
        ).fetchone()
        raw = admin.execute("SELECT processing_status, attempts, count(*) FROM raw.site_tracking_events GROUP BY 1, 2")
        assert raw.fetchall() == [("PROCESSED", 1, 15)]  # the attempt in the table without TOAST left no trace
        failed = admin.execute("SELECT count(*) FROM raw.site_tracking_events_audit WHERE action = 'FAILED'")
        assert failed.fetchone() == (0,)
    assert notes == (20_000,)


def test_a_post_track_run_takes_an_event_too_big_for_a_page(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    numbers = [0, 1]
    params = raw_params(acme, [[write(0), big_write(1)]], "now_big")
    params.update(agent_params([AGENT]))
    with database.app() as conn:
        conn.autocommit = True
        rows = conn.execute(query("track_events_now"), params).fetchall()
        toast = has_toast(conn)
    assert [(event_id, stored, failure) for event_id, stored, _, failure in rows] == [
        (f"evt_wt_{n}", True, None) for n in numbers
    ]
    assert all(outcome["business_processed"] is True for _, _, outcome, _ in rows)
    assert toast
