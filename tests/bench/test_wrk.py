"""The load script and its parser against a real wrk and the real API: every 2xx is one stored event."""

from __future__ import annotations

from pathlib import Path

import pytest

from onevault.bench.cluster import count
from onevault.bench.errors import BenchError
from onevault.bench.wrk import LoadSpec, parse_wrk_output, run_load, wrk_binary
from tests.bench.conftest import bench_database
from tests.conftest import Database, RunningService

TRACK = "/api/v1/track"


def test_single_events_each_answered_2xx_is_one_raw_row(
    wrk: str, service: RunningService, database: Database, make_tenant
) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    spec = LoadSpec(f"{service.url}{TRACK}/async", "single", 8, 2, acme.token, "acme", prefix="t1")
    ticks: list[float] = []
    result = run_load(spec, ticks.append)
    assert result.ok > 50, result
    assert result.statuses == {202: result.ok}  # unique ids: no request was a duplicate or refused
    assert result.errors == 0 and result.unanswered == 0
    # wrk was stopped only once every request sent had its answer: the counts agree exactly.
    assert count(bench_database(database), "bench_raw_events", acme.tenant.tenant_hk) == result.ok
    assert 1.5 < result.active_seconds < 3.5
    assert result.rate == pytest.approx(result.requests / result.active_seconds)
    latencies = [result.latency_ms[p] for p in ("min", "p50", "p90", "p95", "p99", "p99.9", "max")]
    assert latencies == sorted(latencies) and latencies[0] > 0
    assert ticks and ticks[-1] >= 2  # progress was reported while wrk ran


def test_batches_carry_per_request_events(wrk: str, service: RunningService, database: Database, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    spec = LoadSpec(f"{service.url}{TRACK}/batch", "batch", 2, 1, acme.token, "acme", prefix="t2", per_request=25)
    result = run_load(spec)
    assert result.ok > 0 and result.statuses == {202: result.ok}
    assert count(bench_database(database), "bench_raw_events", acme.tenant.tenant_hk) == 25 * result.ok


def test_get_mode_reads_with_the_tenant_headers(wrk: str, service: RunningService, make_tenant) -> None:  # type: ignore[no-untyped-def]
    acme = make_tenant("acme")
    good = run_load(LoadSpec(f"{service.url}{TRACK}/status", "get", 2, 1, acme.token, "acme"))
    assert good.ok > 0 and good.statuses == {200: good.ok}
    wrong = run_load(LoadSpec(f"{service.url}{TRACK}/status", "get", 1, 1, "not-a-token", "acme"))
    assert wrong.ok == 0 and wrong.statuses == {401: wrong.requests}
    assert wrong.errors == wrong.requests  # a refused answer counts as an error


def test_parser_refuses_output_without_the_summary() -> None:
    with pytest.raises(BenchError, match="no summary"):
        parse_wrk_output("Running 1s test @ http://127.0.0.1:1/\n  0 requests in 1.00s\n")


def test_missing_wrk_names_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BenchError, match=r"apt-get install wrk"):
        wrk_binary()
