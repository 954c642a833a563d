"""The request audit trail: entries gathered in memory and appended in one statement per tenant.

The database chains each tenant's rows with SHA-256 (migration 0007); `onevault audit verify` checks the
chain. Entries wait at most `flush_ms` before they are written; a crash can lose that much of the trail
(never an event: events are committed before they are answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from typing import Any, NamedTuple

from psycopg_pool import AsyncConnectionPool

from onevault.db.queries import query
from onevault.db.tenancy import async_tenant_transaction
from onevault.ingest.privacy import client_address

log = logging.getLogger(__name__)
NO_TENANT = bytes(32)  # util.no_tenant_hk(): requests that failed before a tenant was known
MAX_BUFFERED = 100_000


class AuditEntry(NamedTuple):
    occurred_at: float  # epoch seconds
    credential_id: str | None
    method: str
    endpoint: str
    status: int
    outcome: str
    client_ip: str | None


class AuditLog:
    def __init__(self, flush_ms: int) -> None:
        self._pool: AsyncConnectionPool | None = None
        self._interval = flush_ms / 1000
        self._pending: dict[bytes, list[AuditEntry]] = defaultdict(list)
        self._count = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def record(self, *, tenant_hk: bytes | None, client_ip: str | None, **fields: Any) -> None:
        if self._count >= MAX_BUFFERED:  # the database is away for long: keep the process alive
            log.error("audit trail buffer full; dropping an entry for %s", fields.get("endpoint"))
            return
        self._pending[tenant_hk or NO_TENANT].append(AuditEntry(client_ip=client_address(client_ip), **fields))
        self._count += 1

    def bind(self, pool: AsyncConnectionPool) -> None:
        """The pool exists only once the app starts; the middleware holding this log exists before."""
        self._pool = pool
        self._stopping.clear()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Finish the current write (never cancelled halfway, which would drop entries), then flush."""
        self._stopping.set()
        if self._task is not None:
            await self._task
        await self.flush()

    async def flush(self) -> None:
        """Write everything gathered so far; entries stay queued if the database refuses them."""
        assert self._pool is not None, "AuditLog.bind(pool) first"
        pending, self._pending, self._count = self._pending, defaultdict(list), 0
        for tenant_hk, entries in pending.items():
            try:
                async with async_tenant_transaction(self._pool, tenant_hk) as conn:
                    await conn.execute(query("append_request_log"), _columns(entries))
            except Exception:
                log.exception("could not write %d audit entries; will retry", len(entries))
                self._pending[tenant_hk][:0] = entries
                self._count += len(entries)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval)
            if self._count:
                await self.flush()


def _columns(entries: list[AuditEntry]) -> dict[str, list[Any]]:
    return {
        "occurred_at": [e.occurred_at for e in entries],
        "credential_id": [e.credential_id for e in entries],
        "method": [e.method for e in entries],
        "endpoint": [e.endpoint for e in entries],
        "status": [e.status for e in entries],
        "outcome": [e.outcome for e in entries],
        "client_ip": [e.client_ip for e in entries],
    }
