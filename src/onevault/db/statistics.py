"""Statistics for the tables that grew since their last ANALYZE, on the application's request.

A cached generic plan lives until its tables' statistics change. One made while a table was empty may
find rows through the wrong index, and its cost then grows with the table: a POST /track run went from
4 to 16 ms within a few thousand events, until autovacuum (a minute apart by default) analyzed the
table. Every API and worker process asks `util.analyze_grown_tables()` (migration 0023) every
`ONEVAULT_STATISTICS_SECONDS`; it analyzes the tables under 1,000 rows that doubled since their last
ANALYZE, one caller at a time, and the ANALYZE makes every session plan again. A failure here only
leaves the statistics to autovacuum: it is logged, and neither the API nor a worker stops for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import psycopg
from psycopg_pool import AsyncConnectionPool

from onevault.db.queries import query

log = logging.getLogger(__name__)


def analyze_grown_tables(conn: psycopg.Connection) -> list[str]:
    """Analyze the tables under 1,000 rows that doubled since their last ANALYZE, in a transaction of
    their own; returns their names. No statement timeout: a table's sample may take longer than a
    request may."""
    with conn.transaction():
        conn.execute(query("no_statement_timeout"))
        return [row[0] for row in conn.execute(query("analyze_grown_tables"))]


class StatisticsKeeper:
    """The API's caller: a task that asks every `interval` seconds on a pooled connection (0: never)."""

    def __init__(self, pool: AsyncConnectionPool, interval: float) -> None:
        self._pool = pool
        self._interval = interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._interval > 0:
            self._task = asyncio.create_task(self._run(), name="statistics-keeper")

    async def stop(self) -> None:
        """Let a running ANALYZE finish (its connection goes back to the pool), then end."""
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def refresh(self) -> list[str]:
        async with self._pool.connection() as conn:
            await conn.execute(query("no_statement_timeout"))
            return [row[0] for row in await (await conn.execute(query("analyze_grown_tables"))).fetchall()]

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._stopping.is_set():
                return
            try:
                analyzed = await self.refresh()
            except Exception as exc:  # the database is away or busy: the next round asks again
                log.warning("could not refresh table statistics: %s", exc)
                continue
            if analyzed:
                log.info("analyzed grown tables: %s", ", ".join(analyzed))
