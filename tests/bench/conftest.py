"""Shared by the bench tests: wrk must be installed (they fail, loudly, when it is not)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from onevault.bench.cluster import BenchDatabase
from onevault.bench.processes import UNTHROTTLED
from onevault.runtime import Runtime
from tests.conftest import Database, RunningService, runtime_with


@pytest.fixture
def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        pytest.fail("wrk is not installed: these tests drive real HTTP load with it (apt-get install wrk)")
    return found


@pytest.fixture
def service(runtime: Runtime) -> Iterator[RunningService]:
    """The service as the bench runs it: wrk from one address outpaces the default per-address limit on a fast
    machine, and a 429 there would be the limiter's figure, not the one under test."""
    with RunningService(runtime_with(runtime, rate_limit_tenant=UNTHROTTLED, rate_limit_ip=UNTHROTTLED)) as svc:
        yield svc


def bench_database(database: Database) -> BenchDatabase:
    return BenchDatabase(database.name, database.admin_url, database.app_url)
