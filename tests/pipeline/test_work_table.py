"""A session analyzes its batch work table once for batches of about one size (migration 0029): each
ANALYZE makes every later statement of the batch plan again, for statistics that barely move. And it
creates the table once, quietly (migration 0031)."""

from __future__ import annotations

import json

import psycopg

from onevault.db.queries import query
from onevault.ingest.contract import parse_event
from onevault.ingest.writer import RawWrite, raw_params
from onevault.pipeline.runner import run_tenant_batch
from tests.conftest import Database

AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def write(number: int) -> RawWrite:
    body = {"page_url": f"https://example.com/p{number % 7}", "event_type": "page_view", "event_id": f"wt_{number}",
            "event_data": {"title": "T"}, "visitor_id": f"visitor_{number // 10}"}  # fmt: skip
    return RawWrite(parse_event(json.dumps(body).encode(), 65536), "203.0.113.9", AGENT)


def analyze_count(conn: psycopg.Connection) -> int:
    """How often this session's work table has been analyzed (its statistics flushed first)."""
    conn.execute("SELECT pg_stat_force_next_flush()")  # flushed as the backend goes idle after it
    conn.execute("SELECT pg_stat_clear_snapshot()")
    row = conn.execute(
        "SELECT analyze_count FROM pg_stat_user_tables WHERE relid = to_regclass('pg_temp.pipeline_batch_v2')"
    ).fetchone()
    assert row is not None, "the work table has no statistics entry"
    return int(row[0])


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
