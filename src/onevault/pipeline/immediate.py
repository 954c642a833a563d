"""POST /track's pipeline run, shared among concurrent requests.

Each request has already committed its event to the raw layer. It then asks for the event's pipeline
outcome; while one run for a tenant is in the database, the requests that arrive meanwhile gather, and
the next run takes them all in one call (`staging.process_events_now`). One run per tenant at a time in
a process, so sixteen clients cost a few runs instead of sixteen runs queued behind one another.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from onevault.db.errors import translate
from onevault.db.queries import query
from onevault.db.tenancy import async_tenant_transaction
from onevault.pipeline.runner import agent_params

log = logging.getLogger(__name__)


@dataclass
class _Wanted:
    event_id: str
    user_agent: str | None
    future: asyncio.Future[dict[str, Any]] = field(repr=False)


class ImmediatePipeline:
    """Runs the pipeline now for given events, batching concurrent callers per tenant."""

    def __init__(self, pool: AsyncConnectionPool, *, max_events: int = 500) -> None:
        self._pool = pool
        self._max_events = max_events
        self._waiting: dict[bytes, list[_Wanted]] = {}
        self._runs: dict[bytes, asyncio.Task[None]] = {}

    async def process(self, tenant_hk: bytes, event_id: str, user_agent: str | None) -> dict[str, Any]:
        """The event's outcome (`staging.process_event_now`'s answer) once its run has committed."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(tenant_hk, []).append(_Wanted(event_id, user_agent, future))
        if tenant_hk not in self._runs:
            self._runs[tenant_hk] = asyncio.create_task(self._drain(tenant_hk), name="immediate-pipeline")
        return await future

    async def stop(self) -> None:
        """Let the runs in progress finish (their callers are waiting for them)."""
        await asyncio.gather(*self._runs.values(), return_exceptions=True)

    async def _drain(self, tenant_hk: bytes) -> None:
        try:
            while batch := self._take(tenant_hk):
                await self._run(tenant_hk, batch)
        finally:
            # No await between the last empty take and here, so no caller can be left behind.
            del self._runs[tenant_hk]

    def _take(self, tenant_hk: bytes) -> list[_Wanted]:
        waiting = self._waiting.get(tenant_hk, [])
        batch, rest = waiting[: self._max_events], waiting[self._max_events :]
        if rest:
            self._waiting[tenant_hk] = rest
        else:
            self._waiting.pop(tenant_hk, None)
        return batch

    async def _run(self, tenant_hk: bytes, batch: list[_Wanted]) -> None:
        try:
            outcomes = await self._outcomes(tenant_hk, batch)
        except Exception as exc:  # every caller must hear, whatever went wrong
            log.warning("pipeline run of %d events failed: %s", len(batch), exc)
            error = translate(exc) if isinstance(exc, psycopg.Error | PoolTimeout) else exc
            for wanted in batch:
                if not wanted.future.done():
                    wanted.future.set_exception(error)
            return
        for wanted in batch:
            if not wanted.future.done():  # a caller that went away leaves a cancelled future
                wanted.future.set_result(outcomes[wanted.event_id])

    async def _outcomes(self, tenant_hk: bytes, batch: list[_Wanted]) -> dict[str, dict[str, Any]]:
        ids = list(dict.fromkeys(w.event_id for w in batch))  # an id asked for twice runs once
        async with async_tenant_transaction(self._pool, tenant_hk) as conn:
            agents = [w.user_agent for w in batch if w.user_agent]
            if agents:
                await conn.execute(query("insert_parsed_user_agents"), agent_params(agents))
            cursor = await conn.execute(query("process_events_now"), (ids,))
            return dict(await cursor.fetchall())
