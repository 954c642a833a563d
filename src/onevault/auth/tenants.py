"""Tenant records: creation (admin), and the cached lookup the API does per request."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from onevault.auth.cache import TtlCache
from onevault.db.errors import translated
from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.errors import Conflict, InvalidEvent

CUSTOMER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{1,62}$")


@dataclass(frozen=True)
class Tenant:
    tenant_hk: bytes
    customer_id: str
    name: str
    status: str
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "ACTIVE"


def slugify(name: str) -> str:
    """A customer id derived from a display name: lower-case letters, digits, '-' and '_'."""
    slug = re.sub(r"[^a-z0-9_-]+", "-", name.strip().lower()).strip("-_")
    return slug[:63] or "tenant"


def tenant_hk_of(conn: psycopg.Connection, customer_id: str) -> bytes:
    """The tenant hash key, computed by the database (the one implementation of the hashing profile)."""
    row = conn.execute(query("tenant_hk_of"), (customer_id,)).fetchone()
    assert row is not None
    return bytes(row[0])


def create_tenant(conn: psycopg.Connection, name: str, customer_id: str | None = None) -> Tenant:
    """Create a tenant; raises Conflict if the customer id is taken, InvalidEvent if it is malformed."""
    customer_id = customer_id or slugify(name)
    if not CUSTOMER_ID.match(customer_id):
        raise InvalidEvent("customer id must match ^[a-z0-9][a-z0-9_-]{1,62}$", field="customer_id", rule="format")
    params = {
        "customer_id": customer_id,
        "name": name.strip() or customer_id,
        "status": "ACTIVE",
        "record_source": "onevault_cli",
    }
    with translated(), tenant_transaction(conn, tenant_hk_of(conn, customer_id)):
        if conn.execute(query("insert_tenant_hub"), params).fetchone() is None:
            raise Conflict(f"a tenant with customer id {customer_id!r} already exists")
        conn.execute(query("insert_tenant_satellite"), params)
        tenant = _current(conn)
    assert tenant is not None
    return tenant


def list_tenants(conn: psycopg.Connection) -> list[Tenant]:
    """Every tenant (admin connection only)."""
    with translated():
        return [_tenant(row) for row in conn.execute(query("list_tenants"))]


def find_tenant(conn: psycopg.Connection, customer_id: str) -> Tenant | None:
    """The tenant with this customer id, or None."""
    with translated(), tenant_transaction(conn, tenant_hk_of(conn, customer_id)):
        return _current(conn)


def _current(conn: psycopg.Connection) -> Tenant | None:
    row = conn.execute(query("current_tenant")).fetchone()
    return _tenant(row) if row else None


def _tenant(row: tuple[Any, ...]) -> Tenant:
    hk, bk, name, status, created = row
    return Tenant(bytes(hk), str(bk), str(name), str(status), created)


class TenantCache:
    """Per-process cache of tenant lookups by customer id, so a request costs no extra round trip.

    Entries live `ttl` seconds: a suspended tenant is refused within that time on every process.
    """

    def __init__(self, pool: AsyncConnectionPool, ttl: float = 30.0) -> None:
        self._pool = pool
        self._cache: TtlCache[Tenant | None] = TtlCache(ttl)

    async def get(self, customer_id: str) -> Tenant | None:
        return await self._cache.get(customer_id, self._load)

    async def _load(self, customer_id: str) -> Tenant | None:
        if not CUSTOMER_ID.match(customer_id):
            return None
        with translated():
            async with self._pool.connection() as conn, conn.transaction():
                row = await (await conn.execute(query("tenant_hk_of"), (customer_id,))).fetchone()
                assert row is not None
                await conn.execute(query("set_tenant"), (bytes(row[0]),))
                found = await (await conn.execute(query("current_tenant"))).fetchone()
        return _tenant(found) if found else None
