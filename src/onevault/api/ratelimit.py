"""Rate limits per tenant and per client address, with the `limits` library (sliding window counters).

Counters live in this process's memory: with N API processes behind a balancer the effective limit is up
to N times the configured one (docs/security.md). Checking costs no I/O.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter

from onevault.errors import RateLimited


class RateLimits:
    def __init__(self, per_tenant: str, per_ip: str) -> None:
        self._limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self._tenant = parse_many(per_tenant)
        self._ip = parse_many(per_ip)

    def check_ip(self, address: str) -> None:
        """Count a hit for the address. Its headers are only sent when it refuses (the tenant's limit is the
        one a client sees), so an allowed hit skips the window statistics."""
        self._check(self._ip, "ip", address, "client address", statistics=False)

    def check_tenant(self, customer_id: str) -> dict[str, str]:
        return self._check(self._tenant, "tenant", customer_id, "tenant")

    def _check(
        self, items: list[RateLimitItem], scope: str, key: str, what: str, *, statistics: bool = True
    ) -> dict[str, str]:
        """Count one hit against every limit; the headers of the tightest, or RateLimited when one is spent.
        Without `statistics`, an allowed hit returns no headers and skips the window statistics."""
        tightest: dict[str, str] = {}
        least = math.inf
        for item in items:
            allowed = self._limiter.hit(item, scope, key)
            if allowed and not statistics:
                continue
            stats = self._limiter.get_window_stats(item, scope, key)
            headers = {
                "X-RateLimit-Limit": str(item.amount),
                "X-RateLimit-Remaining": str(max(stats.remaining, 0)),
                "X-RateLimit-Reset": str(math.ceil(stats.reset_time)),
            }
            if not allowed:
                retry = max(1, math.ceil(stats.reset_time - time.time()))
                raise RateLimited(
                    f"more than {item.amount} requests per {item.GRANULARITY.name} for this {what}; retry in {retry} s",
                    headers={**headers, "Retry-After": str(retry)},
                    field=scope,
                )
            if stats.remaining < least:
                least, tightest = stats.remaining, headers
        return tightest
