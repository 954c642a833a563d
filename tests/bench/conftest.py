"""Shared by the bench tests: wrk must be installed (they fail, loudly, when it is not)."""

from __future__ import annotations

import shutil

import pytest

from onevault.bench.cluster import BenchDatabase
from tests.conftest import Database


@pytest.fixture
def wrk() -> str:
    found = shutil.which("wrk")
    if found is None:
        pytest.fail("wrk is not installed: these tests drive real HTTP load with it (apt-get install wrk)")
    return found


def bench_database(database: Database) -> BenchDatabase:
    return BenchDatabase(database.name, database.admin_url, database.app_url)
