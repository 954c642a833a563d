"""Durable raw writes with group commit.

Concurrent requests hand their events to a shared queue; a few flusher tasks take whatever has gathered
(waiting `wait_ms` for company: 0 by default, since requests arriving while the flushers are busy
gather anyway), write each tenant's share with one statement that is its own transaction, and only
once it has committed wake the requests. Nothing is acknowledged before its commit, and
(tenant_hk, event_id) uniqueness makes a retried event a duplicate instead of a second row.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import psycopg
from psycopg_pool import AsyncConnectionPool

from onevault.db.errors import translate
from onevault.db.queries import query
from onevault.errors import DatabaseUnavailable, OneVaultError
from onevault.ingest.contract import Event

log = logging.getLogger(__name__)


class RawWrite(NamedTuple):
    """One event to store, with the request facts that go beside it."""

    event: Event
    client_ip: str | None  # the full address: truncated by the database before it is stored
    user_agent: str | None


class WriteResult(NamedTuple):
    event_id: str
    duplicate: bool


@dataclass
class _Request:
    tenant_hk: bytes
    writes: list[RawWrite]
    future: asyncio.Future[list[WriteResult]] = field(repr=False)


class GroupCommitWriter:
    """Shares one commit among concurrent ingest requests; see the module docstring."""

    def __init__(
        self,
        conninfo: str,
        connect_kwargs: dict[str, Any],
        *,
        max_events: int = 1000,
        wait_ms: float = 0.0,
        flushers: int = 2,
    ) -> None:
        # Its own pool, one connection per flusher, in autocommit mode: each flush is one statement that
        # is its own transaction (see _commit). Not the app's pool, whose users expect transactions.
        self._pool = AsyncConnectionPool(
            conninfo,
            min_size=flushers,
            max_size=flushers,
            open=False,
            timeout=5.0,
            kwargs={**connect_kwargs, "autocommit": True},
        )
        self._max_events = max_events
        self._wait = wait_ms / 1000.0
        self._flushers = flushers
        self._queue: asyncio.Queue[_Request | None] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closed = False

    async def start(self) -> None:
        await self._pool.open(wait=False)  # start even while the database is away, as the app's pool does
        self._tasks = [asyncio.create_task(self._run(), name=f"group-commit-{i}") for i in range(self._flushers)]

    async def stop(self) -> None:
        """Write everything already queued, then stop the flushers."""
        self._closed = True
        for _ in self._tasks:
            self._queue.put_nowait(None)
        await asyncio.gather(*self._tasks)
        await self._pool.close()

    async def write(self, tenant_hk: bytes, writes: list[RawWrite]) -> list[WriteResult]:
        """Store `writes` for the tenant; returns once they are committed (one result per write, in order)."""
        if self._closed:
            raise DatabaseUnavailable("the service is shutting down")
        future: asyncio.Future[list[WriteResult]] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Request(tenant_hk, writes, future))
        return await future

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            if first is None:
                return
            batch = self._gather(first)
            if self._wait and sum(len(r.writes) for r in batch) < self._max_events:
                await asyncio.sleep(self._wait)  # let concurrent requests join this commit
                batch += self._gather(None, sum(len(r.writes) for r in batch))
            by_tenant: dict[bytes, list[_Request]] = defaultdict(list)
            for request in batch:
                by_tenant[request.tenant_hk].append(request)
            for requests in by_tenant.values():  # one transaction per tenant: see _commit
                await self._flush(requests)

    def _gather(self, first: _Request | None, count: int = 0) -> list[_Request]:
        batch = [first] if first else []
        count += len(first.writes) if first else 0
        while count < self._max_events and not self._queue.empty():
            item = self._queue.get_nowait()
            if item is None:  # a stop sentinel: keep it for the next loop turn
                self._queue.put_nowait(None)
                break
            batch.append(item)
            count += len(item.writes)
        return batch

    async def _flush(self, batch: list[_Request]) -> None:
        try:
            results = await self._commit(batch)
        except psycopg.DataError:
            if len(batch) == 1:
                self._fail(batch, OneVaultError("the event could not be stored"))
                return
            # One bad request must not sink its neighbours: commit each on its own.
            for request in batch:
                await self._flush([request])
            return
        except (TimeoutError, psycopg.Error, OSError) as exc:
            log.warning("group commit of %d requests failed: %s", len(batch), exc)
            self._fail(batch, translate(exc) if isinstance(exc, psycopg.Error) else DatabaseUnavailable())
            return
        for request, result in zip(batch, results, strict=True):
            if not request.future.done():
                request.future.set_result(result)

    @staticmethod
    def _fail(batch: list[_Request], error: OneVaultError) -> None:
        for request in batch:
            if not request.future.done():
                request.future.set_exception(error)

    async def _commit(self, batch: list[_Request]) -> list[list[WriteResult]]:
        """One tenant's requests in one statement on an autocommit connection: raw.store_events sets the
        tenant and inserts, and is the whole transaction, so a flush is one round trip (each round trip
        waits for a turn of the busy event loop) and the ids come back only once committed."""
        async with self._pool.connection() as conn:
            return await insert_raw(conn, batch[0].tenant_hk, [r.writes for r in batch], f"gc_{uuid.uuid4().hex}")


async def insert_raw(
    conn: psycopg.AsyncConnection, tenant_hk: bytes, groups: list[list[RawWrite]], batch_id: str
) -> list[list[WriteResult]]:
    """Insert the tenant's events (grouped by request) in one statement, with the ingest audit rows; the
    statement sets the transaction's tenant first, as the set_tenant query does. The first occurrence of
    an id wins and every later one, here or already stored, is a duplicate."""
    cursor = await conn.execute(query("insert_raw_events"), raw_params(tenant_hk, groups, batch_id))
    return answers(groups, {row[0] for row in await cursor.fetchall()})


def raw_params(tenant_hk: bytes, groups: list[list[RawWrite]], batch_id: str) -> dict[str, Any]:
    """The parameters of `raw.store_events` for these events, each id once (its first occurrence)."""
    seen: set[str] = set()
    rows: list[RawWrite] = []
    for writes in groups:
        for write in writes:
            if write.event.event_id not in seen:
                seen.add(write.event.event_id)
                rows.append(write)
    return {
        "tenant_hk": tenant_hk,
        "event_ids": [w.event.event_id for w in rows],
        "client_ips": [w.client_ip for w in rows],
        "user_agents": [w.user_agent for w in rows],
        "payloads": [w.event.payload_json for w in rows],
        "batch_id": batch_id,
    }


def answers(groups: list[list[RawWrite]], inserted: set[str]) -> list[list[WriteResult]]:
    """Each write's answer, given the ids the statement inserted: a second copy of an id is a duplicate."""
    inserted = set(inserted)  # emptied as ids are answered: the caller's set is left alone
    out: list[list[WriteResult]] = []
    for writes in groups:
        group = []
        for write in writes:
            first_time = write.event.event_id in inserted
            inserted.discard(write.event.event_id)
            group.append(WriteResult(write.event.event_id, duplicate=not first_time))
        out.append(group)
    return out
