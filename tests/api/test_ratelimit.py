"""The in-process sliding windows decide, count and report exactly as the `limits` library's sliding
window counter does (the algorithm they replace for speed), hit for hit, on a seeded random clock."""

from __future__ import annotations

import math
import random

import pytest
from limits import parse
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from onevault.api import ratelimit
from onevault.api.ratelimit import RateLimits
from onevault.errors import RateLimited


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now


@pytest.mark.parametrize("notation", ["5/second", "20/minute", "7/10 seconds"])
def test_same_verdicts_remaining_and_reset_as_limits(monkeypatch: pytest.MonkeyPatch, notation: str) -> None:
    rng = random.Random(20261127)
    clock = Clock(1_800_000_000.25)
    monkeypatch.setattr("time.time", clock.time)  # both implementations read time.time()
    item = parse(notation)
    reference = SlidingWindowCounterRateLimiter(MemoryStorage())
    ours = RateLimits(notation, "1000000/second")
    refused = 0
    for _ in range(600):
        clock.now += rng.choice([0.0, 0.01, 0.05, 0.3, 1.1, item.get_expiry() * rng.random()])
        expected = reference.hit(item, "tenant", "t")
        stats = reference.get_window_stats(item, "tenant", "t")
        try:
            headers = ours.check_tenant("t")
            allowed = True
        except RateLimited as exc:
            headers, allowed = exc.headers, False
            refused += 1
        assert allowed == expected
        assert headers["X-RateLimit-Remaining"] == str(max(stats.remaining, 0))
        assert headers["X-RateLimit-Reset"] == str(math.ceil(stats.reset_time))
    assert 0 < refused < 600  # the sequence exercised both answers


def test_idle_keys_are_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(1_800_000_000.0)
    monkeypatch.setattr("time.time", clock.time)
    monkeypatch.setattr(ratelimit, "_SWEEP_EVERY", 10)
    limits = RateLimits("100/second", "100/second")
    for n in range(10):
        limits.check_ip(f"10.0.0.{n}")
    clock.now += 5  # every window of those ten addresses has passed
    for n in range(10):
        limits.check_ip(f"10.1.0.{n}")
    assert len(limits._windows._windows) <= 10
