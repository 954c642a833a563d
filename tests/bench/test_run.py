"""A whole bench run at the smallest sizes, for real: every figure measured, every count checked, every
goal of the issue judged as the issue states it."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from rich.console import Console

from onevault.bench import measure
from onevault.bench import run as bench_run
from onevault.bench.cluster import BenchCluster
from onevault.bench.processes import ServiceEnv, start_api
from onevault.bench.report import Goal, build_rows, goal_failures, integrity_failures, table
from onevault.bench.run import Sizes, run_bench
from onevault.settings import Settings
from tests.bench.conftest import bench_database
from tests.conftest import TEST_APP_PASSWORD, TEST_JWT_SECRET, Cluster, Database

TINY = Sizes(
    load_seconds=1,
    warmup_seconds=0.5,
    read_seconds=1,
    copy_rows=10_000,
    backlog_events=3_000,
    ingest_connections=8,
    batch_connections=2,
    batch_events_per_request=10,
    sync_connections=2,
    read_connections=1,
)
# The goals table of issue 5, written out independently of the report module: (work prefix, figure) -> check.
ISSUE_GOALS = {
    ("async ingest", "requests/s"): lambda value, ratio: ratio >= 0.60,
    ("async ingest", "p99"): lambda value, ratio: value <= 50,
    ("async ingest", "errors"): lambda value, ratio: value == 0,
    ("batch ingest", "events/s"): lambda value, ratio: value >= 50_000,
    ("drain, 2 workers", "events/s"): lambda value, ratio: value >= 15_000,
    ("sync /track", "p50"): lambda value, ratio: value <= 10,
    ("sync /track", "p99"): lambda value, ratio: value <= 40,
    ("status", "p95"): lambda value, ratio: value <= 100,
    ("dashboard", "p95"): lambda value, ratio: value <= 100,
    ("memory", "API peak RSS"): lambda value, ratio: value <= 250,
    ("memory", "worker peak RSS"): lambda value, ratio: value <= 300,
}


@pytest.mark.slow
def test_tiny_run_measures_everything_and_judges_each_goal(
    wrk: str, cluster: Cluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(
        system_database_url=cluster.admin_url,
        app_db_password=TEST_APP_PASSWORD,  # the role is shared with the rest of the suite: keep its password
        data_dir=tmp_path / "data",
    )
    backlogs_during_drain: dict[int, list[str]] = {}
    real_drain = measure.drain

    def drain(env: Any, db: Any, tenant_hk: bytes, total: int, workers: int, progress: Any) -> Any:
        run = db.name.rsplit("_", 1)[0] + "_"  # onevault_bench_<run id>_, the prefix of this run's databases
        with psycopg.connect(cluster.admin_url, autocommit=True) as conn:
            names = conn.execute("SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (run,))
            backlogs_during_drain[workers] = sorted(n.removeprefix(run) for (n,) in names if "backlog" in n)
        return real_drain(env, db, tenant_hk, total, workers, progress)

    monkeypatch.setattr(measure, "drain", drain)
    tenant_of_load: dict[str, str] = {}
    order: list[str] = []
    real_load, real_settle = bench_run.Bench.load, BenchCluster.settle

    def load(self: Any, name: str, url: str, mode: str, creds: Any, connections: int, **kw: float) -> Any:
        tenant_of_load[name] = creds.customer_id
        order.append(name)
        return real_load(self, name, url, mode, creds, connections, **kw)

    def settle(self: Any, db: Any) -> bool:
        order.append("settle")
        settled = real_settle(self, db)
        assert settled  # the suite's admin role may checkpoint
        return settled

    monkeypatch.setattr(bench_run.Bench, "load", load)
    monkeypatch.setattr(BenchCluster, "settle", settle)
    out = io.StringIO()
    measured = run_bench(settings, TINY, Console(file=out, width=120), logs=tmp_path / "logs")
    assert "drain, 2 worker" in out.getvalue()  # progress was shown
    # --logs: the processes' logs outlive the working directory (no server log: this server is not embedded).
    kept = {path.name for path in (tmp_path / "logs").iterdir()}
    assert {"api.log", "trivial.log", "worker-0.log", "worker-1.log"} <= kept, kept
    assert "OneVault is listening" in (tmp_path / "logs" / "api.log").read_text()
    # The one-worker drain's copy is gone before the two workers start: its cleanup would share their CPUs.
    assert backlogs_during_drain == {1: ["backlog", "backlog2"], 2: ["backlog"]}
    # The sync warm-up has a tenant of its own: in another load's tenant each run would first take that
    # tenant's pending events, up to 1,000 of them.
    others = {tenant_of_load[name] for name in ("warmup", "async", "batch", "sync")}
    assert tenant_of_load["warmup-sync"] not in others and len(others) == 4
    # Each measured ingest load starts settled: the one before it neither writes back nor vacuums during it.
    ingest = ["settle", "warmup", "async", "settle", "batch", "settle", "warmup-sync", "sync"]
    assert order[: order.index("sync") + 1] == ["warmup-trivial", "trivial", *ingest], order

    assert set(measured.loads) == {"trivial", "async", "batch", "sync", "status", "dashboard"}
    for name, load in measured.loads.items():
        assert load.ok > 0, (name, load)
    assert measured.copy_rows_per_s > 0 and measured.backlog_rows_per_s > 0
    assert sorted(measured.drains) == [1, 2]
    assert all(d.events == TINY.backlog_events and d.seconds > 0 for d in measured.drains.values())
    assert 20 < measured.api_rss_mb < 2000
    assert all(20 < d.peak_rss_mb < 2000 for d in measured.drains.values())

    rows = build_rows(measured)
    assert integrity_failures(rows) == []  # raw rows matched the 2xx answers in every load
    judged = {(r.work, r.figure): r for r in rows if r.goal is not None and not r.integrity}
    for (work, figure), check in ISSUE_GOALS.items():
        [row] = [r for (w, f), r in judged.items() if w.startswith(work) and f == figure]
        assert row.passed == check(row.value, row.ratio), row
    assert {r.figure for r in goal_failures(rows)} <= {f for _, f in ISSUE_GOALS}
    rendered = io.StringIO()
    Console(file=rendered, width=120).print(table(rows, "tiny"))
    assert "ceiling: trivial endpoint" in rendered.getvalue()
    assert json.loads(json.dumps([r.to_dict() for r in rows]))[0]["work"] == "ceiling: trivial endpoint"


def test_goal_boundaries() -> None:
    at_most = Goal("<=", 50, "<= 50 ms")
    assert at_most.met(50, None) and not at_most.met(50.01, None)
    share = Goal(">=", 0.6, ">= 60%", of_ratio=True)
    assert share.met(1, 0.6) and not share.met(10**9, 0.59)
    assert not share.met(1, None)  # no ceiling measured: the goal is not met
    assert Goal("==", 3, "= 3").met(3, None) and not Goal("==", 3, "= 3").met(4, None)


@pytest.mark.slow
def test_api_process_without_a_worker_leaves_events_pending(database: Database, make_tenant, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    headers = {"Authorization": f"Bearer {acme.token}", "X-Customer-ID": "acme"}
    api = start_api(ServiceEnv(TEST_JWT_SECRET, TEST_APP_PASSWORD, tmp_path), bench_database(database))
    try:
        event = {"event_type": "page_view", "page_url": "https://example.com/", "event_id": "nw1"}
        assert httpx.post(f"{api.base_url}/api/v1/track/async", json=event, headers=headers).status_code == 202
        time.sleep(2.5)  # a worker inside would have polled twice by now
        status = httpx.get(f"{api.base_url}/api/v1/track/status", headers=headers).json()
        assert status["pipeline_status"]["raw_pending"] == 1
        assert 20 < api.peak_rss_mb() < 2000
    finally:
        api.stop()
    assert not api.alive()
