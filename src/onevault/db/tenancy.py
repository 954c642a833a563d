"""Tenant-scoped transactions: the tenant is set with set_config(..., true), i.e. SET LOCAL.

A transaction-local setting ends with the transaction, so a pooled connection never carries one
request's tenant into the next; with no setting, every policy compares with NULL and sees no rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import psycopg
from psycopg_pool import AsyncConnectionPool

from onevault.db.queries import query


@contextmanager
def tenant_transaction(conn: psycopg.Connection, tenant_hk: bytes) -> Iterator[psycopg.Connection]:
    """A transaction on `conn` in which only `tenant_hk`'s rows are visible or writable."""
    with conn.transaction():
        conn.execute(query("set_tenant"), (tenant_hk,))
        yield conn


@asynccontextmanager
async def async_tenant_transaction(
    pool: AsyncConnectionPool, tenant_hk: bytes
) -> AsyncIterator[psycopg.AsyncConnection]:
    """A pooled connection inside a transaction scoped to `tenant_hk`."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(query("set_tenant"), (tenant_hk,))
        yield conn
