"""Garbage-collector settings for the long-running service processes.

Each request allocates a few hundred short-lived objects, so CPython's default (a young collection every
700 allocations, an older one every 10 of those) collects hundreds of times a second, and each older
collection walks every object the process ever loaded. Measured under wrk on the async ingest endpoint:
about 1,300 requests/s with p99 130 ms by default, about 1,800 with p99 67 ms with these settings.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # allocations between young collections (default 700)
OLDER_THRESHOLDS = (20, 100)  # young collections per middle one, middle per full (defaults 10, 10)


def tune_for_serving() -> None:
    """Freeze what start-up loaded (it lives as long as the process, so no collection needs to scan it)
    and collect the young generation less often. Call once, after the app is built."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
