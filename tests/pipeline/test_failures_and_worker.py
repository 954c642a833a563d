"""Failed events are retried a bounded number of times without sinking their batch; the worker process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from onevault.db.tenancy import tenant_transaction
from onevault.pipeline.runner import drain_once
from tests.conftest import Database, process_env
from tests.pipeline.dataset import generate, load_raw

POISON_TRIGGER = """
CREATE FUNCTION public.poison() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.event_id = 'evt_poison' THEN RAISE EXCEPTION 'simulated failure for %', NEW.event_id; END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER poison BEFORE INSERT ON staging.site_events FOR EACH ROW EXECUTE FUNCTION public.poison();
"""


def test_a_failing_event_is_retried_then_kept_as_error_without_sinking_its_batch(
    database: Database, make_tenant
) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    truth = generate(2, 1, 5, seed=9)
    poison = type(truth.events[0])(
        "evt_poison",
        0,
        0,
        truth.events[0].time,
        dict(truth.events[0].payload),
        truth.events[0].ip,
        truth.events[0].user_agent,
    )
    with database.admin() as conn:
        conn.execute(POISON_TRIGGER)
    with database.app() as conn:
        load_raw(conn, acme, [poison, *truth.events])
        first = drain_once(conn, 100)
        assert (first.staged, first.errors) == (11, 1)  # 11 claimed, 10 staged, 1 failed
        with tenant_transaction(conn, acme):
            row = conn.execute(
                "SELECT processing_status, attempts, last_error FROM raw.site_tracking_events "
                "WHERE event_id = 'evt_poison'"
            ).fetchone()
        assert row is not None and row[0:2] == ("PENDING", 1)
        assert "simulated failure" in row[2]
        drain_once(conn, 100)
        drain_once(conn, 100)
        assert drain_once(conn, 100).total == 0  # given up: nothing keeps the pipeline busy
        with tenant_transaction(conn, acme):
            final = conn.execute(
                "SELECT processing_status, attempts FROM raw.site_tracking_events WHERE event_id = 'evt_poison'"
            ).fetchone()
            failures = conn.execute(
                "SELECT count(*) FROM raw.site_tracking_events_audit WHERE action = 'FAILED'"
            ).fetchone()
            loaded = conn.execute("SELECT count(*) FROM business.site_event_h").fetchone()
    assert final == ("ERROR", 3)
    assert failures == (3,)
    assert loaded == (10,)


@pytest.mark.slow
def test_worker_wakes_on_notify_and_stops_cleanly_on_sigterm(database: Database, make_tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme").tenant.tenant_hk
    # A 60 s poll: anything processed within a few seconds was woken by NOTIFY, not by polling.
    proc = subprocess.Popen(
        [sys.executable, "-m", "onevault", "worker", "--poll", "60"],
        env=process_env(database, tmp_path / "data"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(3)  # let it start, find nothing and go to sleep on LISTEN
        with database.app() as conn:
            load_raw(conn, acme, generate(3, 1, 4, seed=5).events)
        deadline = time.monotonic() + 20
        loaded = 0
        while time.monotonic() < deadline and loaded < 12:
            with database.admin() as conn:
                loaded = conn.execute("SELECT count(*) FROM business.site_event_h").fetchone()[0]  # type: ignore[index]
            time.sleep(0.2)
        assert loaded == 12
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "worker stopped: 12 staged, 12 loaded" in out
