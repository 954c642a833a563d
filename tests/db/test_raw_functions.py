"""The raw layer's SQL interface: api.track_site_event, raw.get_raw_events_for_processing, truncation."""

from __future__ import annotations

import threading

import psycopg
import pytest

from onevault.db.queries import query
from tests.conftest import Database

EVENT = '{"event_type": "page_view", "page_url": "https://e.com/"}'


def test_track_site_event_without_tenant_is_refused(database: Database) -> None:
    with database.app() as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT api.track_site_event(%s::jsonb)", (EVENT,))


def test_track_site_event_reports_duplicates(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    with database.app() as conn:
        conn.execute(query("set_tenant"), (acme.tenant.tenant_hk,))
        first = conn.execute("SELECT api.track_site_event(%s::jsonb, p_event_id => 'evt_1')", (EVENT,)).fetchone()
        again = conn.execute("SELECT api.track_site_event(%s::jsonb, p_event_id => 'evt_1')", (EVENT,)).fetchone()
        assert first is not None and again is not None
        assert (first[0]["duplicate"], again[0]["duplicate"]) == (False, True)
        assert conn.execute("SELECT count(*) FROM raw.site_tracking_events").fetchone() == (1,)


def test_track_site_event_rejects_a_bad_payload_naming_the_field(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    with database.app() as conn:
        conn.execute(query("set_tenant"), (acme.tenant.tenant_hk,))
        with pytest.raises(psycopg.errors.InvalidParameterValue) as info:
            conn.execute('SELECT api.track_site_event(\'{"page_url": "x"}\'::jsonb)')
        assert info.value.diag.column_name == "event_type"
        assert info.value.diag.message_detail == "required"


@pytest.mark.parametrize(
    ("ip", "stored"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("2001:db8:abcd:1234:5678::1", "2001:db8:abcd::/48"),
        (None, None),
    ],
)
def test_client_ip_is_truncated_in_the_database(
    database: Database, make_tenant, ip: str | None, stored: str | None
) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    with database.app() as conn:
        conn.execute(query("set_tenant"), (acme.tenant.tenant_hk,))
        conn.execute("SELECT api.track_site_event(%s::jsonb, %s::inet)", (EVENT, ip))
        assert conn.execute("SELECT client_ip::text FROM raw.site_tracking_events").fetchone() == (stored,)


def test_a_full_address_cannot_be_stored(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    with database.app() as conn:
        conn.execute(query("set_tenant"), (acme.tenant.tenant_hk,))
        with pytest.raises(psycopg.errors.CheckViolation):
            conn.execute(
                "INSERT INTO raw.site_tracking_events (tenant_hk, event_id, client_ip, raw_payload) "
                "VALUES (util.current_tenant_hk(), 'e1', '203.0.113.77', '{}')"
            )


def test_concurrent_claims_never_take_the_same_row(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    with database.app() as conn:
        conn.execute(query("set_tenant"), (acme.tenant.tenant_hk,))
        for i in range(200):
            conn.execute("SELECT api.track_site_event(%s::jsonb, p_event_id => %s)", (EVENT, f"e{i}"))
        conn.commit()
    claimed: list[list[str]] = []
    barrier = threading.Barrier(4)

    def claim() -> None:
        with database.app() as conn:
            conn.execute(query("set_tenant"), (acme.tenant.tenant_hk,))
            barrier.wait()
            got: list[str] = []
            claim = "SELECT event_id FROM raw.get_raw_events_for_processing(7)"
            while rows := conn.execute(claim).fetchall():
                got += [r[0] for r in rows]
            conn.commit()
            claimed.append(got)

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [e for part in claimed for e in part]
    assert len(everything) == 200
    assert len(set(everything)) == 200
    with database.admin() as conn:
        assert conn.execute(
            "SELECT processing_status, min(attempts), max(attempts), count(*) FROM raw.site_tracking_events GROUP BY 1"
        ).fetchall() == [("PROCESSING", 1, 1, 200)]


def test_store_events_falls_back_when_an_id_is_taken(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    # Migration 0019: the plain insert meets a taken id after storing the call's first event; the block
    # undoes that row, and the ON CONFLICT statement stores the new ids once and names the taken one.
    acme = make_tenant("acme")

    def store(conn: psycopg.Connection, ids: list[str], batch_id: str) -> list[str]:
        params = {
            "tenant_hk": acme.tenant.tenant_hk,
            "event_ids": ids,
            "client_ips": ["198.51.100.7"] * len(ids),
            "user_agents": ["test"] * len(ids),
            "payloads": [EVENT] * len(ids),
            "batch_id": batch_id,
        }
        return sorted(r[0] for r in conn.execute(query("insert_raw_events"), params))

    with database.app() as conn:
        conn.autocommit = True
        assert store(conn, ["evt_t1", "evt_t2"], "first") == ["evt_t1", "evt_t2"]
        assert store(conn, ["evt_t3", "evt_t1", "evt_t4"], "second") == ["evt_t3", "evt_t4"]
        assert store(conn, ["evt_t5", "evt_t5"], "third") == ["evt_t5"]
    with database.admin() as conn:
        stored = conn.execute("SELECT event_id, count(*) FROM raw.site_tracking_events GROUP BY 1 ORDER BY 1")
        assert stored.fetchall() == [(f"evt_t{n}", 1) for n in range(1, 6)]
        ids = dict(conn.execute("SELECT event_id, raw_event_id FROM raw.site_tracking_events").fetchall())
        # The undone attempt used up two identity values (evt_t3's and the taken evt_t1's) before the
        # statement that stored evt_t3; with ON CONFLICT alone, evt_t3 would follow evt_t2 directly.
        assert ids["evt_t3"] - ids["evt_t2"] == 3
        audit = conn.execute(
            "SELECT batch_id, action, event_count, detail -> 'event_ids' FROM raw.site_tracking_events_audit"
            " WHERE action IN ('INGESTED', 'DUPLICATE') ORDER BY audit_id"
        ).fetchall()
    assert audit[:3] == [
        ("first", "INGESTED", 2, None),
        ("second", "INGESTED", 2, None),
        ("second", "DUPLICATE", 1, ["evt_t1"]),
    ]
    assert audit[3][:3] == ("third", "INGESTED", 1)


def test_the_raw_insert_runs_inline_and_parses_each_payload_once(database: Database) -> None:
    # Migration 0030: a SQL function the planner cannot inline runs through the function executor once per
    # row, and a payload cast in a flattened subquery is parsed again at each use.
    with database.app() as conn:
        plan = "\n".join(
            str(row[0])
            for row in conn.execute(
                "EXPLAIN (VERBOSE) SELECT * FROM raw.rows_to_store('\\x01', '\\x02', ARRAY['evt_1'],"
                " ARRAY['203.0.113.7'::inet], ARRAY['ua'], ARRAY[%s])",
                (EVENT,),
            )
        )
        assert "truncate_ip" not in plan and "cookieless_visitor_key" not in plan
        assert "sha256(" in plan and "set_masklen(" in plan  # their bodies, inlined
        assert plan.count("::jsonb") - plan.count("::jsonb[]") - plan.count("'null'::jsonb") == 0
        cookieless = conn.execute(
            "SELECT visitor_key, client_ip::text FROM raw.rows_to_store('\\x01', '\\x02', ARRAY['evt_1', 'evt_2'],"
            " ARRAY['203.0.113.7'::inet, NULL], ARRAY['ua', 'ua'], ARRAY[%s, %s])",
            (EVENT, '{"event_type": "x", "visitor_id": "visitor_1"}'),
        ).fetchall()
    assert cookieless[0][0].startswith("visitor_") and len(cookieless[0][0]) == 40
    assert cookieless[0][1] == "203.0.113.0/24"
    assert cookieless[1] == (None, None)
