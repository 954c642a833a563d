"""Rate limits per tenant and per client address: sliding window counters, the `limits` library's
algorithm and notation ("600/minute;20/second"), counted in this process's memory.

The counting is done here rather than by `limits`' MemoryStorage: its general storage (string keys, a
lock, expiry timers, error wrappers) cost 43 us per request, 14% of an ingest request's CPU in a py-spy
profile, for what is two integers per window. The arithmetic is the library's (weighted previous window
plus current window; the same remaining count and reset time): tests/api/test_ratelimit.py compares
the two hit for hit, and tests/security/test_rate_limits.py holds the behaviour. With N API processes
behind a balancer the effective limit is up to N times the configured one (docs/security.md). Checking
costs no I/O.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many

from onevault.errors import RateLimited

_SWEEP_EVERY = 100_000  # hits between sweeps of counters whose windows have passed


class _Window:
    """One key's counters under one limit: the current window's index and hits, and the previous window's."""

    __slots__ = ("current", "index", "previous")

    def __init__(self, index: int) -> None:
        self.index, self.current, self.previous = index, 0, 0

    def roll(self, index: int) -> None:
        if index != self.index:
            self.previous = self.current if index == self.index + 1 else 0
            self.index, self.current = index, 0


class _SlidingWindows:
    def __init__(self) -> None:
        self._windows: dict[tuple[int, int, str], _Window] = {}  # (expiry, limit's id, key)
        self._hits = 0

    def hit(self, limit: int, key: tuple[int, int, str], now: float) -> tuple[bool, int, float]:
        """Count a hit unless it would pass `limit`; (allowed, remaining, reset time) as `limits` reports them."""
        expiry = key[0]
        index = int(now // expiry)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(index)
            self._sweep(now)
        window.roll(index)
        left_in_window = expiry - now % expiry  # the previous window's weight, in seconds
        weighted = window.previous * left_in_window / expiry + window.current
        allowed = math.floor(weighted) + 1 <= limit
        if allowed:
            window.current += 1
            weighted += 1
        remaining = max(0, limit - math.floor(weighted))
        reset_in = left_in_window if window.current else math.inf
        if window.previous:
            reset_in = min(reset_in, left_in_window % (expiry / window.previous))
        return allowed, remaining, now + (0 if math.isinf(reset_in) else reset_in)

    def _sweep(self, now: float) -> None:
        """Now and then, forget keys idle for two windows (their counts no longer weigh anything)."""
        self._hits += 1
        if self._hits % _SWEEP_EVERY:
            return
        self._windows = {key: w for key, w in self._windows.items() if w.index >= int(now // key[0]) - 1}


class _Limit:
    """A parsed limit with what each hit needs precomputed (`RateLimitItem.get_expiry()` is a call)."""

    __slots__ = ("amount", "expiry", "granularity", "ident")

    def __init__(self, item: RateLimitItem) -> None:
        self.amount, self.expiry, self.granularity, self.ident = (
            item.amount,
            item.get_expiry(),
            item.GRANULARITY.name,
            id(self),
        )


class RateLimits:
    def __init__(self, per_tenant: str, per_ip: str) -> None:
        self._windows = _SlidingWindows()
        self._tenant = [_Limit(item) for item in parse_many(per_tenant)]
        self._ip = [_Limit(item) for item in parse_many(per_ip)]

    def check_ip(self, address: str) -> None:
        """Count a hit for the address. Its headers are only sent when it refuses (the tenant's limit is the
        one a client sees)."""
        self._count(self._ip, address, "client address", "ip")

    def check_tenant(self, customer_id: str) -> dict[str, str]:
        """Count a hit for the tenant; the headers of its tightest limit."""
        tightest = self._count(self._tenant, customer_id, "tenant", "tenant")
        return _headers(*tightest) if tightest else {}

    def _count(self, limits: list[_Limit], key: str, what: str, scope: str) -> tuple[_Limit, int, float] | None:
        """Count one hit against every limit: the tightest (limit, remaining, reset), or RateLimited when one
        is spent."""
        tightest: tuple[_Limit, int, float] | None = None
        now = time.time()
        for limit in limits:
            allowed, remaining, reset = self._windows.hit(limit.amount, (limit.expiry, limit.ident, key), now)
            if not allowed:
                retry = max(1, math.ceil(reset - now))
                raise RateLimited(
                    f"more than {limit.amount} requests per {limit.granularity} for this {what}; retry in {retry} s",
                    headers={**_headers(limit, remaining, reset), "Retry-After": str(retry)},
                    field=scope,
                )
            if tightest is None or remaining < tightest[1]:
                tightest = (limit, remaining, reset)
        return tightest


def _headers(limit: _Limit, remaining: int, reset: float) -> dict[str, str]:
    return {
        "X-RateLimit-Limit": str(limit.amount),
        "X-RateLimit-Remaining": str(remaining),
        "X-RateLimit-Reset": str(math.ceil(reset)),
    }
