"""The database-side measurements: the COPY ceiling, building a backlog, and draining it with workers."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from psycopg.rows import dict_row

from onevault.bench import workload
from onevault.bench.cluster import BenchDatabase, count
from onevault.bench.errors import BenchError
from onevault.bench.processes import Process, ServiceEnv, start_workers
from onevault.db.queries import query
from onevault.db.tenancy import tenant_transaction
from onevault.pipeline.runner import tenants_with_work

Progress = Callable[[int], None]
COPY_BLOCK_ROWS = 10_000
BACKLOG_CHUNK = 5_000
BACKLOG_WRITERS = 2
DRAIN_POLL_SECONDS = 0.2
PROGRESS_POLL_SECONDS = 2.0  # counting the queue costs the database a little: not too often
DRAIN_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True)
class DrainResult:
    workers: int
    events: int
    seconds: float
    peak_rss_mb: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def copy_ceiling(db: BenchDatabase, rows: int, progress: Progress) -> float:
    """Rows per second by COPY of realistic JSON events into a one-column jsonb table (commit included)."""
    block = workload.copy_block(COPY_BLOCK_ROWS)
    blocks = max(1, rows // COPY_BLOCK_ROWS)
    with db.admin() as conn:
        conn.execute(query("bench_create_copy_table"))
        conn.commit()
        started = time.perf_counter()
        with conn.cursor().copy(query("bench_copy_rows")) as copy:
            for i in range(blocks):
                copy.write(block)
                progress((i + 1) * COPY_BLOCK_ROWS)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute(query("bench_drop_copy_table"))
        conn.commit()
    return blocks * COPY_BLOCK_ROWS / elapsed


def build_backlog(db: BenchDatabase, tenant_hk: bytes, total: int, progress: Progress) -> float:
    """Write `total` pending events for the tenant through the API writer's own SQL; returns rows/s.

    Two connections take alternate chunks, as the API's two group-commit flushers do."""
    written = [0] * BACKLOG_WRITERS

    def write(k: int) -> None:
        with db.app() as conn:
            for first in range(k * BACKLOG_CHUNK, total, BACKLOG_WRITERS * BACKLOG_CHUNK):
                part = workload.chunk(first, min(BACKLOG_CHUNK, total - first), total)
                with tenant_transaction(conn, tenant_hk):
                    conn.execute(query("insert_raw_events"), part.params(tenant_hk, "bench_backlog"))
                written[k] += len(part.event_ids)
                progress(sum(written))

    started = time.perf_counter()
    with ThreadPoolExecutor(BACKLOG_WRITERS) as pool:
        list(pool.map(write, range(BACKLOG_WRITERS)))  # list(): re-raises a writer's exception here
    elapsed = time.perf_counter() - started
    if (stored := count(db, "bench_raw_events", tenant_hk)) != total:
        raise BenchError(f"the backlog holds {stored} raw events, {total} were written")
    return total / elapsed


def drain(
    env: ServiceEnv, db: BenchDatabase, tenant_hk: bytes, total: int, workers: int, progress: Progress
) -> DrainResult:
    """Start `workers` worker processes on a backlog of `total` events and time them until the queue is
    empty; the clock starts when the first worker has connected (interpreter start-up is not counted)."""
    procs = start_workers(env, db, workers)
    try:
        started = _first_worker_connected(db, procs)
        _wait_until_drained(db, tenant_hk, total, procs, progress)
        elapsed = time.perf_counter() - started
        peak = max(p.peak_rss_mb() for p in procs)
    finally:
        for proc in procs:
            proc.stop()
    if (loaded := count(db, "bench_loaded_events", tenant_hk)) != total:
        raise BenchError(f"{workers} worker(s) drained the queue but {loaded} of {total} events reached the vault")
    return DrainResult(workers, total, elapsed, peak)


def _first_worker_connected(db: BenchDatabase, procs: list[Process]) -> float:
    deadline = time.monotonic() + 90
    with db.admin() as conn:
        conn.autocommit = True
        while time.monotonic() < deadline:
            row = conn.execute(query("bench_worker_connections")).fetchone()
            if row is not None and row[0] > 0:
                return time.perf_counter()
            for proc in procs:
                if not proc.alive():
                    raise proc.failure("exited before it connected")
            time.sleep(0.01)
    raise BenchError("no worker connected to the database within 90 s")


def _wait_until_drained(
    db: BenchDatabase, tenant_hk: bytes, total: int, procs: list[Process], progress: Progress
) -> None:
    next_progress = 0.0
    deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
    with db.app() as conn:
        while tenants_with_work(conn):
            if time.monotonic() > deadline:
                raise BenchError(f"the workers did not drain {total} events within {DRAIN_TIMEOUT_SECONDS:.0f} s")
            for proc in procs:
                if not proc.alive():
                    raise proc.failure("exited while draining")
            if time.monotonic() >= next_progress:
                with tenant_transaction(conn, tenant_hk), conn.cursor(row_factory=dict_row) as cur:
                    counts = cur.execute(query("status_counts")).fetchone() or {}
                waiting = sum(int(counts.get(k) or 0) for k in ("raw_pending", "staging_pending", "business_pending"))
                progress(total - waiting)
                next_progress = time.monotonic() + PROGRESS_POLL_SECONDS
            time.sleep(DRAIN_POLL_SECONDS)
    progress(total)
