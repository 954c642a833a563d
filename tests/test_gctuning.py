"""The service processes' collector settings, and that a test's app leaves the collector alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from onevault.gctuning import OLDER_THRESHOLDS, YOUNG_THRESHOLD, tune_for_serving


@pytest.fixture
def collector_restored() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


def test_serving_freezes_what_is_loaded_and_collects_less_often(collector_restored: None) -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    tune_for_serving()
    assert gc.get_freeze_count() > 10_000  # the interpreter, FastAPI, psycopg... all loaded by now
    assert gc.get_threshold() == (YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
    assert YOUNG_THRESHOLD > 700  # CPython's default young threshold


def test_an_app_made_for_tests_leaves_the_collector_alone(client) -> None:  # type: ignore[no-untyped-def]
    # `client` has started the app's lifespan (create_app without serving=True).
    assert client.get("/health").status_code in (200, 503)
    assert gc.get_threshold()[0] != YOUNG_THRESHOLD
