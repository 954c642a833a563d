"""A small bounded TTL cache for per-process lookups (tenants, site keys, origins)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 10_000


class TtlCache(Generic[T]):
    """Values by key for `ttl` seconds; bounded, so random keys sent by an attacker cannot grow it."""

    def __init__(self, ttl: float, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl = ttl
        self._max = max_entries
        self._entries: dict[str, tuple[float, T]] = {}

    async def get(self, key: str, load: Callable[[str], Awaitable[T]]) -> T:
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await load(key)
        if len(self._entries) >= self._max:
            self._entries.clear()
        self._entries[key] = (now + self._ttl, value)
        return value
