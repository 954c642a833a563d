"""The pipeline against a generated data set whose right answer is known."""

from __future__ import annotations

import threading
from collections import Counter

import pytest

from onevault.auth.tenants import create_tenant
from onevault.db.tenancy import tenant_transaction
from onevault.pipeline.runner import BatchResult, drain_once
from onevault.pipeline.worker import Worker
from tests.conftest import Cluster, Database, drop_database, new_database
from tests.pipeline.dataset import Truth, business_counts, generate, load_raw, total_rows

TENANTS = ("acme", "globex")


@pytest.fixture
def loaded(database: Database, make_tenant) -> tuple[dict[str, bytes], dict[str, Truth]]:  # type: ignore[no-untyped-def]
    """200 visitors, 1,000 sessions and 10,000 events, half in each of two tenants, in raw."""
    tenants = {name: make_tenant(name).tenant.tenant_hk for name in TENANTS}
    truths = {
        "acme": generate(100, 5, 10, seed=1, first_visitor=0),
        "globex": generate(100, 5, 10, seed=2, first_visitor=100),
    }
    with database.app() as conn:
        for name, truth in truths.items():
            load_raw(conn, tenants[name], truth.events)
    return tenants, truths


def drain(database: Database, batch_size: int) -> BatchResult:
    total = BatchResult()
    with database.app() as conn:
        while (done := drain_once(conn, batch_size)).total:
            total.add(done)
    return total


def expected_counts(truth: Truth) -> dict[str, int]:
    events, sessions = len(truth.events), len(truth.sessions)
    return {
        "site_event_h": events,
        "site_session_h": sessions,
        "site_visitor_h": len(truth.visitors),
        "site_page_h": len(truth.pages),
        "site_event_session_l": events,
        "site_event_visitor_l": events,
        "site_event_page_l": events,
        "site_session_visitor_l": sessions,
        "site_event_details_s": events,
        "site_session_details_s": sessions,
        "site_visitor_details_s": len(truth.visitors),
        "site_page_details_s": len(truth.pages),
    }


def test_data_set_loads_to_exactly_the_expected_rows(database: Database, loaded) -> None:  # type: ignore[no-untyped-def]
    tenants, truths = loaded
    result = drain(database, batch_size=20_000)  # one batch per tenant: one satellite row per key
    assert (result.staged, result.loaded, result.errors) == (10_000, 10_000, 0)
    with database.admin() as conn:
        for name, truth in truths.items():
            assert business_counts(conn, tenants[name]) == expected_counts(truth), name


def test_derived_sessions_equal_the_truth(database: Database, loaded) -> None:  # type: ignore[no-untyped-def]
    tenants, truths = loaded
    drain(database, batch_size=700)  # many batches: sessions continue across batch boundaries
    with database.admin() as conn:
        for name, truth in truths.items():
            rows = conn.execute(
                "SELECT event_id, session_key FROM staging.site_events WHERE tenant_hk = %s", (tenants[name],)
            ).fetchall()
            by_event = dict(rows)
            groups: dict[str, set[tuple[int, int]]] = {}
            for ev in truth.events:
                groups.setdefault(by_event[ev.event_id], set()).add((ev.visitor, ev.session))
            # Every derived (or client) session holds exactly one true session, and vice versa.
            assert all(len(members) == 1 for members in groups.values())
            assert len(groups) == len(truth.sessions)
            midnight = [
                s
                for s in conn.execute(
                    "SELECT session_start, session_end FROM business.site_session_details_s WHERE tenant_hk = %s",
                    (tenants[name],),
                )
                if s[0].date() != s[1].date()
            ]
            assert midnight, "sessions that cross midnight stay whole"


def test_running_the_pipeline_again_inserts_nothing(database: Database, loaded) -> None:  # type: ignore[no-untyped-def]
    drain(database, batch_size=3000)
    with database.admin() as conn:
        before = total_rows(conn)
        rerun = drain(database, batch_size=3000)
        assert rerun.total == 0
        # Reprocess everything from staging on: hubs, links and satellites take nothing new.
        conn.execute("UPDATE staging.site_events SET business_status = 'PENDING' WHERE business_status = 'LOADED'")
        again = drain(database, batch_size=3000)
        assert again.loaded == 10_000
        assert total_rows(conn) == before


def run_workers(database: Database, workers: int, batch_size: int = 500) -> list[Worker]:
    """Run `workers` workers side by side until raw and staging have nothing left, then stop them."""
    stop = threading.Event()
    pool = [Worker(database.app_url, batch_size=batch_size, poll_seconds=0.1, stop=stop) for _ in range(workers)]
    threads = [threading.Thread(target=w.run) for w in pool]
    for t in threads:
        t.start()
    with database.admin() as conn:
        for _ in range(900):
            left = conn.execute(
                "SELECT (SELECT count(*) FROM raw.site_tracking_events WHERE processing_status <> "
                "'PROCESSED') + (SELECT count(*) FROM staging.site_events WHERE business_status "
                "= 'PENDING')"
            ).fetchone()
            if left == (0,):
                break
            stop.wait(0.2)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return pool


@pytest.mark.parametrize("workers", [2, 4])
def test_parallel_workers_match_one_worker(cluster: Cluster, database: Database, loaded, workers: int) -> None:  # type: ignore[no-untyped-def]
    tenants, truths = loaded
    single = new_database(cluster)  # the same data set, drained by one worker, is the reference
    try:
        with single.admin() as conn:
            for name in truths:
                create_tenant(conn, name.title(), name)
        with single.app() as conn:
            for name, truth in truths.items():
                load_raw(conn, tenants[name], truth.events)
        assert sum(w.processed.staged for w in run_workers(single, 1)) == 10_000
        assert sum(w.processed.staged for w in run_workers(database, workers)) == 10_000
        with single.admin() as one, database.admin() as many:
            for name in truths:
                reference = business_counts(one, tenants[name])
                assert business_counts(many, tenants[name]) == reference, name
                hubs_and_links = {k: v for k, v in reference.items() if not k.endswith("_s")}
                expected = expected_counts(truths[name])
                assert hubs_and_links == {k: v for k, v in expected.items() if not k.endswith("_s")}
            duplicates = many.execute(
                "SELECT count(*) FROM (SELECT tenant_hk, raw_event_id FROM staging.site_events "
                "GROUP BY 1, 2 HAVING count(*) > 1) d"
            ).fetchone()
            assert duplicates == (0,)
            # No satellite holds two consecutive rows with the same hashdiff for a key.
            repeats = many.execute(
                "SELECT count(*) FROM (SELECT hashdiff, lag(hashdiff) OVER (PARTITION BY tenant_hk, site_session_hk "
                "ORDER BY load_dts) AS prev FROM business.site_session_details_s) x WHERE hashdiff = prev"
            ).fetchone()
            assert repeats == (0,)
    finally:
        drop_database(cluster, single)


def test_invalid_events_are_kept_with_reasons_and_never_reach_the_vault(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    truth = generate(20, 5, 10, seed=3)  # 1,000 valid events
    bad_payloads = [
        ({"event_type": "page_view", "page_url": "not a url"}, "page_url_unparseable"),
        (
            {"event_type": "page_view", "page_url": "https://e.com/", "timestamp": "2099-01-01T00:00:00Z"},
            "event_time_future",
        ),
        ({"event_type": "page_view", "page_url": "https://e.com/", "session_id": "has space"}, "session_id_format"),
        ({"event_type": "page_view", "page_url": "https://e.com/", "visitor_id": "bad|id"}, "visitor_id_format"),
        ({"page_url": "https://e.com/"}, "contract_violation"),
    ]
    invalid = []
    for i in range(100):
        payload, _ = bad_payloads[i % len(bad_payloads)]
        ev = truth.events[i * 7]
        invalid.append(type(ev)(f"evt_bad_{i}", -1, -1, ev.time, payload, "10.9.9.9", ev.user_agent))
    with database.app() as conn:
        load_raw(conn, acme, sorted(truth.events + invalid, key=lambda e: e.time))
    drain(database, batch_size=400)
    with database.admin() as conn:
        statuses = dict(conn.execute("SELECT validation_status, count(*) FROM staging.site_events GROUP BY 1"))
        assert statuses.get("INVALID") == 100
        assert statuses.get("VALID", 0) + statuses.get("SUSPICIOUS", 0) == 1000
        assert conn.execute("SELECT count(*) FROM business.site_event_h").fetchone() == (1000,)
        assert conn.execute(
            "SELECT count(*) FROM raw.site_tracking_events WHERE processing_status <> 'PROCESSED'"
        ).fetchone() == (0,)
        rules = Counter(
            dict(
                conn.execute(
                    "SELECT rule, count(DISTINCT raw_event_id) FROM staging.data_quality_log WHERE severity = 'ERROR' "
                    "GROUP BY rule"
                )
            )
        )
        assert rules == Counter({rule: 20 for _, rule in bad_payloads})
        reasons = conn.execute(
            "SELECT count(*) FROM staging.site_events s WHERE validation_status = 'INVALID' "
            "AND NOT EXISTS (SELECT 1 FROM staging.data_quality_log q WHERE q.tenant_hk = "
            "s.tenant_hk AND q.raw_event_id = s.raw_event_id AND q.severity = 'ERROR')"
        ).fetchone()
        assert reasons == (0,)


def test_same_session_and_page_in_two_tenants_are_separate_rows(database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    tenants = [make_tenant(name).tenant.tenant_hk for name in TENANTS]
    truth = generate(4, 1, 3, seed=4)
    with database.app() as conn:
        for hk in tenants:
            load_raw(conn, hk, truth.events)
    drain(database, batch_size=100)
    with database.admin() as conn:
        per_tenant = [business_counts(conn, hk) for hk in tenants]
        assert per_tenant[0] == per_tenant[1] == expected_counts(truth)
        shared = conn.execute(
            "SELECT count(*) FROM business.site_session_h a JOIN business.site_session_h b "
            "ON a.site_session_bk = b.site_session_bk AND a.tenant_hk <> b.tenant_hk"
        ).fetchone()
        assert shared is not None and shared[0] > 0  # the same business keys exist in both tenants ...
        clashes = conn.execute(
            "SELECT count(*) FROM business.site_session_h a JOIN business.site_session_h b "
            "ON a.site_session_hk = b.site_session_hk AND a.tenant_hk <> b.tenant_hk"
        ).fetchone()
        assert clashes == (0,)  # ... under different hash keys
    with database.app() as conn, tenant_transaction(conn, tenants[0]):
        assert conn.execute("SELECT count(*) FROM business.site_session_h").fetchone() == (len(truth.sessions),)
