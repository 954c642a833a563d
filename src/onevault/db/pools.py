"""The API's connection pool: the connection used last is the one lent next.

psycopg_pool keeps idle connections in a queue, so each checkout takes the connection idle longest and
a steady load cycles through all of them. A `POST /track` run is a few milliseconds of one backend's
CPU, and a backend that ran a moment ago still has its plans, catalog entries and buffers in the
processor's caches; one that sat out fifteen runs of other backends does not. Lending the most recent
one first made a sixteen-event run 4.5-5.0 ms instead of 5.4-5.8 (docs/performance.md). Unused
connections stay at the cold end, and the pool still shrinks by count when they stay unused.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from psycopg import AsyncConnection
from psycopg_pool import AsyncConnectionPool


class _Stack(deque[AsyncConnection[Any]]):
    """The pool's idle list turned into a stack: the pool takes from the left, so returns go there too."""

    def append(self, conn: AsyncConnection[Any]) -> None:
        self.appendleft(conn)


class LifoConnectionPool(AsyncConnectionPool[AsyncConnection[Any]]):
    """An `AsyncConnectionPool` that lends the most recently returned connection first."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # psycopg_pool takes idle connections with `popleft` and gives them back with `append`;
        # tests/db/test_pools.py fails if a release changes that.
        self._pool = _Stack(self._pool)
