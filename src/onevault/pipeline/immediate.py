"""POST /track: store an event and take it through the pipeline before answering, shared among
concurrent requests.

While one run for a tenant is in the database, the requests that arrive meanwhile gather, and the next
run takes them all in one statement, `staging.track_events_now`, on its own in autocommit mode: their raw
rows, their parsed agents and one pipeline batch in one transaction and one round trip. One run per
tenant at a time in a process: a second one beside it could not see the first one's uncommitted raw
rows, so could not wait for them to derive sessions in order. Across API processes the statement itself
makes the tenant's runs take turns (a lock held to commit, migration 0021). Sixteen clients cost a few
runs instead of sixteen runs queued behind one another.

The raw rows commit even when the pipeline part fails (it runs in a block of its own, as a savepoint):
such a request is answered as stored and queued, and the worker takes the event later. A request whose
raw row did not commit gets an error, never a 2xx.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from onevault.db.errors import translate
from onevault.db.queries import query
from onevault.ingest.writer import RawWrite, WriteResult, answers, raw_params
from onevault.pipeline.runner import agent_params

log = logging.getLogger(__name__)

NOT_RUN = {
    "raw_processed": True,
    "staging_processed": False,
    "business_processed": False,
    "reason": "the pipeline run failed; the event is stored and the worker will process it",
}


@dataclass(frozen=True)
class Completed:
    """A stored event and its pipeline outcome (`staging.process_event_now`'s answer), or None when the
    pipeline part failed after the event was stored."""

    written: WriteResult
    outcome: dict[str, Any] | None


@dataclass
class _Wanted:
    write: RawWrite
    future: asyncio.Future[Completed] = field(repr=False)


class ImmediatePipeline:
    """Stores and processes events now, batching concurrent callers per tenant."""

    def __init__(self, pool: AsyncConnectionPool, *, max_events: int = 500, gather_ms: float = 0.0) -> None:
        self._pool = pool
        self._max_events = max_events
        self._gather_seconds = gather_ms / 1000
        self._waiting: dict[bytes, list[_Wanted]] = {}
        self._runs: dict[bytes, asyncio.Task[None]] = {}
        self._gathering: dict[bytes, tuple[int, asyncio.Future[None]]] = {}

    async def process(self, tenant_hk: bytes, write: RawWrite) -> Completed:
        """Returns once the event is committed, with its outcome when the pipeline part succeeded."""
        future: asyncio.Future[Completed] = asyncio.get_running_loop().create_future()
        waiting = self._waiting.setdefault(tenant_hk, [])
        waiting.append(_Wanted(write, future))
        if tenant_hk not in self._runs:
            self._runs[tenant_hk] = asyncio.create_task(self._drain(tenant_hk), name="immediate-pipeline")
        gathering = self._gathering.get(tenant_hk)
        if gathering is not None and len(waiting) >= gathering[0] and not gathering[1].done():
            gathering[1].set_result(None)
        return await future

    async def stop(self) -> None:
        """Let the runs in progress finish (their callers are waiting for them)."""
        await asyncio.gather(*self._runs.values(), return_exceptions=True)

    async def _drain(self, tenant_hk: bytes) -> None:
        try:
            expected = 0
            while True:
                await self._gather(tenant_hk, expected)
                batch = self._take(tenant_hk)
                if not batch:
                    break
                await self._run(tenant_hk, batch)
                # The callers just answered may come straight back, beside those who came meanwhile.
                expected = len(batch) + len(self._waiting.get(tenant_hk, ()))
        finally:
            # No await between the last empty take and here, so no caller can be left behind.
            del self._runs[tenant_hk]

    async def _gather(self, tenant_hk: bytes, expected: int) -> None:
        """Wait at most `gather_ms` until `expected` requests wait: those that came during the last run
        and the callers it answered, who may come straight back. One run then serves them all and pays
        a run's fixed cost once, but the database idles while they come back; at 0 (the default) such
        callers split into runs that take turns, one in the database while the other is answered."""
        if self._gather_seconds <= 0 or len(self._waiting.get(tenant_hk, ())) >= expected:
            return
        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._gathering[tenant_hk] = (min(expected, self._max_events), arrived)
        try:
            await asyncio.wait_for(arrived, self._gather_seconds)
        except TimeoutError:
            pass
        finally:
            del self._gathering[tenant_hk]

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
            written, outcomes = await self._store_and_process(tenant_hk, [w.write for w in batch])
        except Exception as exc:  # every caller must hear, whatever went wrong
            log.warning("storing a run of %d events failed: %s", len(batch), exc)
            error = translate(exc) if isinstance(exc, psycopg.Error | PoolTimeout) else exc
            for wanted in batch:
                if not wanted.future.done():
                    wanted.future.set_exception(error)
            return
        for wanted, result in zip(batch, written, strict=True):
            if not wanted.future.done():  # a caller that went away leaves a cancelled future
                outcome = outcomes.get(result.event_id) if outcomes is not None else None
                wanted.future.set_result(Completed(result, outcome))

    async def _store_and_process(
        self, tenant_hk: bytes, writes: list[RawWrite]
    ) -> tuple[list[WriteResult], dict[str, dict[str, Any]] | None]:
        groups = [[w] for w in writes]
        params = raw_params(tenant_hk, groups, f"now_{uuid.uuid4().hex}")
        params.update(agent_params(w.user_agent for w in writes if w.user_agent))
        async with self._pool.connection() as conn:
            # One statement on its own is the whole transaction: one round trip for the run (migration 0016).
            try:
                await conn.set_autocommit(True)
                rows = await (await conn.execute(query("track_events_now"), params)).fetchall()
            finally:
                if conn.info.transaction_status == pq.TransactionStatus.IDLE:  # a broken one is discarded
                    await conn.set_autocommit(False)
        written = [w[0] for w in answers(groups, {event_id for event_id, stored, _, _ in rows if stored})]
        failure = next((f for _, _, _, f in rows if f is not None), None)
        if failure is not None:
            log.warning("pipeline run of %d events failed, left to the worker: %s", len(writes), failure)
            return written, None
        return written, {event_id: outcome for event_id, _, outcome, _ in rows}
