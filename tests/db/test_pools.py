"""The API's pool lends the connection returned last (onevault.db.pools), on a real server."""

from __future__ import annotations

import asyncio

from psycopg_pool import AsyncConnectionPool

from onevault.db.pools import LifoConnectionPool
from tests.conftest import Database


async def lending_order(pool: AsyncConnectionPool) -> tuple[list[int], list[int]]:
    """Backend pids of three connections as they are returned, then of three checkouts in a row."""
    async with pool:
        await pool.wait()
        held = [await pool.getconn() for _ in range(3)]
        returned = [conn.info.backend_pid for conn in held]
        for conn in held:
            await pool.putconn(conn)
        lent = []
        for _ in range(3):
            async with pool.connection() as conn:
                lent.append(conn.info.backend_pid)
        return returned, lent


def test_the_connection_returned_last_is_lent_first(database: Database) -> None:
    pool = LifoConnectionPool(database.app_url, min_size=3, max_size=3, open=False)
    returned, lent = asyncio.run(lending_order(pool))
    assert len(set(returned)) == 3
    # The last one back is lent again and again while the load is one at a time.
    assert lent == [returned[-1]] * 3


def test_a_plain_pool_would_cycle_through_all_of_them(database: Database) -> None:
    """What the subclass changes (and what a psycopg_pool release could change back under it)."""
    pool = AsyncConnectionPool(database.app_url, min_size=3, max_size=3, open=False)
    returned, lent = asyncio.run(lending_order(pool))
    assert lent == returned
